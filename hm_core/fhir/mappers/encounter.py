"""Encounter ← the encounter read model (current) and the encounter stream (every version).

Vitals are events of the encounter stream too: each one is a version of the Encounter (its
`meta.versionId` is the stream version, as hm_core's own `version` and `ETag` are)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q

from hm_core.common.scope import Scope
from hm_core.encounters.events import (
    ConsultStarted,
    EncounterCancelled,
    EncounterCheckedIn,
    EncounterClosed,
    EncounterCreated,
)
from hm_core.encounters.selectors import encounter_get, encounter_list
from hm_core.events.base import EventMeta
from hm_core.fhir import params
from hm_core.fhir.mappers.common import VISIT_SYSTEM, drop_empty, fold_stream, ref
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)

STATUS = {
    "SCHEDULED": "planned",
    "CHECKED_IN": "arrived",
    "IN_CONSULT": "in-progress",
    "CLOSED": "finished",
    "CANCELLED": "cancelled",
}
STATUS_CODE = {v: k for k, v in STATUS.items()}
AMBULATORY = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "AMB",
    "display": "ambulatory",
}


def encounter_resource(state: dict[str, Any]) -> dict[str, Any]:
    start: datetime | None = state.get("checked_in_at") or state.get("scheduled_at")
    end: datetime | None = state.get("closed_at") or state.get("cancelled_at")
    return drop_empty(
        {
            "resourceType": "Encounter",
            "id": str(state["id"]),
            "identifier": (
                [{"system": VISIT_SYSTEM, "value": state["visit_number"]}]
                if state.get("visit_number")
                else []
            ),
            "status": STATUS[state["status"]],
            "class": AMBULATORY,
            "subject": ref("Patient", state["patient_id"]),
            "period": drop_empty(
                {
                    "start": start.isoformat() if start else None,
                    "end": end.isoformat() if end else None,
                }
            ),
            "reasonCode": [{"text": state["reason"]}] if state.get("reason") else [],
        }
    )


_FIELDS = ("id", "patient_id", "status", "reason", "visit_number", "scheduled_at",
           "checked_in_at", "closed_at", "cancelled_at")  # fmt: skip
_STEPS: dict[type, tuple[str, str | None]] = {
    EncounterCheckedIn: ("CHECKED_IN", "checked_in_at"),
    ConsultStarted: ("IN_CONSULT", None),
    EncounterClosed: ("CLOSED", "closed_at"),
    EncounterCancelled: ("CANCELLED", "cancelled_at"),
}


def _apply(state: dict[str, Any], event: Any, meta: EventMeta) -> None:
    if isinstance(event, EncounterCreated):
        state.update(
            id=event.encounter_id, patient_id=event.patient_id, status="SCHEDULED",
            reason=event.reason, visit_number=event.visit_number, scheduled_at=event.scheduled_at,
        )  # fmt: skip
    step = _STEPS.get(type(event))
    if step is not None:
        state["status"] = step[0]
        if step[1]:
            state[step[1]] = meta.occurred_at


def _version(row: Any) -> Version:
    return Version(
        resource=encounter_resource({name: getattr(row, name) for name in _FIELDS}),
        version_id=row.version,
        last_updated=row.updated_at,
        patient_id=row.patient_id,
    )


class EncounterMapper(Mapper):
    resource_type = "Encounter"
    permission = "encounters.view"
    search_params = (
        SearchParam("_id", "token", "The encounter's id"),
        SearchParam("patient", "reference", "The patient (Patient/<id>)"),
        SearchParam("subject", "reference", "The patient (Patient/<id>)"),
        SearchParam("status", "token", "planned | arrived | in-progress | finished | cancelled"),
        SearchParam("date", "date", "The scheduled time"),
        SearchParam("identifier", "token", f"Visit number ({VISIT_SYSTEM})"),
    )

    def read(self, scope: Scope, resource_id: str) -> Version:
        uid = parse_uuid(resource_id, self.resource_type)
        return _version(encounter_get(scope=scope, encounter_id=uid))

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        found = encounter_get(scope=scope, encounter_id=parse_uuid(resource_id, "Encounter"))
        return fold_stream(
            scope, found.id, apply=_apply,
            render=lambda state: (encounter_resource(state), state["patient_id"]),
        ) or [_version(found)]  # fmt: skip

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        rows = encounter_list(scope=scope, patient=None, status=None)
        for name, values in criteria.items():
            for value in values:
                rows = rows.filter(self._q(name, value))
        return [Source(rows=rows, expand=lambda batch: [[_version(row)] for row in batch])]

    def _q(self, name: str, value: str) -> Q:
        if name == "_id":
            return params.reference_q("id", value, "Encounter")
        if name in ("patient", "subject"):
            return params.reference_q("patient_id", value, "Patient")
        if name == "status":
            codes = [STATUS_CODE[s] for s in params.or_values(value) if s in STATUS_CODE]
            return Q(status__in=codes) if codes else params.NOTHING
        if name == "date":
            return params.date_q("scheduled_at", value)
        codes = params.token_codes(value, system=VISIT_SYSTEM)
        return Q(visit_number__in=codes) if codes else params.NOTHING


register(EncounterMapper())
