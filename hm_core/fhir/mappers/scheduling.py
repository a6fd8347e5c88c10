"""Appointment ← the appointment read model (current) and the appointment stream (every
version: booked, rescheduled, cancelled, no-show, checked in, fulfilled)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from hm_core.common.scope import Scope
from hm_core.events.base import EventMeta
from hm_core.fhir import params
from hm_core.fhir.mappers.clinical import PATIENT, filtered
from hm_core.fhir.mappers.common import drop_empty, fold_stream, ref
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)
from hm_core.scheduling.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentEvent,
    AppointmentFulfilled,
    AppointmentMarkedNoShow,
)
from hm_core.scheduling.selectors import AppointmentFilters, appointment_get, appointment_list

STATUS = {
    "BOOKED": "booked",
    "CHECKED_IN": "arrived",
    "FULFILLED": "fulfilled",
    "CANCELLED": "cancelled",
    "NO_SHOW": "noshow",
}
USER_SYSTEM = "urn:hm-core:user"
_FIELDS = ("id", "patient_id", "practitioner_id", "start_at", "end_at", "status", "reason",
           "cancel_reason", "created_at")  # fmt: skip
_STEPS: dict[type, str] = {
    AppointmentCancelled: "CANCELLED",
    AppointmentMarkedNoShow: "NO_SHOW",
    AppointmentCheckedIn: "CHECKED_IN",
    AppointmentFulfilled: "FULFILLED",
}


def appointment_resource(state: dict[str, Any]) -> dict[str, Any]:
    """The FHIR Appointment of one state of an appointment (read model row or folded events).
    The practitioner is a hm_core user, named by identifier (no Practitioner is served)."""
    status = STATUS[state["status"]]
    participant = "declined" if status == "cancelled" else "accepted"
    return drop_empty(
        {
            "resourceType": "Appointment",
            "id": str(state["id"]),
            "status": status,
            "cancelationReason": (
                {"text": state["cancel_reason"]}
                if status == "cancelled" and state.get("cancel_reason")
                else None
            ),
            "description": state.get("reason") or None,
            "start": state["start_at"].isoformat(),
            "end": state["end_at"].isoformat(),
            "minutesDuration": int((state["end_at"] - state["start_at"]).total_seconds() // 60),
            "created": state["created_at"].isoformat() if state.get("created_at") else None,
            "participant": [
                {"actor": ref("Patient", state["patient_id"]), "status": participant},
                {
                    "type": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "v3-ParticipationType",
                                    "code": "PPRF",
                                    "display": "primary performer",
                                }
                            ]
                        }
                    ],
                    "actor": {
                        "identifier": {
                            "system": USER_SYSTEM,
                            "value": str(state["practitioner_id"]),
                        }
                    },
                    "status": participant,
                },
            ],
        }
    )


def _apply(state: dict[str, Any], event: Any, meta: EventMeta) -> None:
    if not isinstance(event, AppointmentEvent):
        return
    state.update(
        id=event.appointment_id, patient_id=event.patient_id,
        practitioner_id=event.practitioner_id, start_at=event.start, end_at=event.end,
    )  # fmt: skip
    if isinstance(event, AppointmentBooked):
        state.update(status="BOOKED", reason=event.reason, created_at=meta.occurred_at)
    elif isinstance(event, AppointmentCancelled):
        state["cancel_reason"] = event.reason
    status = _STEPS.get(type(event))
    if status is not None:
        state["status"] = status


def _version(row: Any) -> Version:
    return Version(
        resource=appointment_resource({name: getattr(row, name) for name in _FIELDS}),
        version_id=row.version,
        last_updated=row.updated_at,
        patient_id=row.patient_id,
    )


class AppointmentMapper(Mapper):
    resource_type = "Appointment"
    permission = "appointments.view"
    search_params = (
        PATIENT,
        SearchParam("status", "token", "booked | arrived | fulfilled | cancelled | noshow"),
        SearchParam("date", "date", "The appointment's start"),
    )

    def read(self, scope: Scope, resource_id: str) -> Version:
        uid = parse_uuid(resource_id, self.resource_type)
        return _version(appointment_get(scope=scope, appointment_id=uid))

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        uid = parse_uuid(resource_id, self.resource_type)
        found = appointment_get(scope=scope, appointment_id=uid)
        return fold_stream(
            scope, found.id, apply=_apply,
            render=lambda state: (appointment_resource(state), state["patient_id"]),
        ) or [_version(found)]  # fmt: skip

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        rows = filtered(
            appointment_list(scope=scope, filters=AppointmentFilters()).order_by("id"),
            criteria,
            status=lambda fhir: [ours for ours, theirs in STATUS.items() if theirs == fhir],
            more=_date_q,
        )
        return [Source(rows=rows, expand=lambda batch: [[_version(row)] for row in batch])]


def _date_q(name: str, value: str) -> Q:
    return params.date_q("start_at", value)


register(AppointmentMapper())
