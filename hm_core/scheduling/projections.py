"""Scheduling read-model projections: replayable upserts keyed on ids from the events."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.scheduling import domain
from hm_core.scheduling.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentFulfilled,
    AppointmentMarkedNoShow,
    AppointmentRescheduled,
    ScheduleCreated,
)
from hm_core.scheduling.models import Appointment, Schedule

rebuildable("scheduling", Schedule, Appointment)


@subscribe(ScheduleCreated)
def schedule_apply_created(event: ScheduleCreated, meta: EventMeta) -> None:
    upsert(
        Schedule,
        id=event.schedule_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "practitioner_id": event.practitioner_id,
            "weekly": [hours.model_dump() for hours in event.weekly],
            "slot_minutes": event.slot_minutes,
            "valid_from": event.valid_from,
            "valid_to": event.valid_to,
            "time_zone": event.time_zone,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
        },
    )


@subscribe(AppointmentBooked)
def appointment_apply_booked(event: AppointmentBooked, meta: EventMeta) -> None:
    upsert(
        Appointment,
        id=event.appointment_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "patient_id": event.patient_id,
            "practitioner_id": event.practitioner_id,
            "start_at": event.start,
            "end_at": event.end,
            "status": domain.BOOKED,
            "reason": event.reason,
            "encounter_id": None,
            "cancel_reason": "",
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(AppointmentRescheduled)
def appointment_apply_rescheduled(event: AppointmentRescheduled, meta: EventMeta) -> None:
    _touch(meta, start_at=event.start, end_at=event.end)


@subscribe(AppointmentCancelled)
def appointment_apply_cancelled(event: AppointmentCancelled, meta: EventMeta) -> None:
    _touch(meta, status=domain.CANCELLED, cancel_reason=event.reason)


@subscribe(AppointmentMarkedNoShow)
def appointment_apply_marked_no_show(event: AppointmentMarkedNoShow, meta: EventMeta) -> None:
    _touch(meta, status=domain.NO_SHOW)


@subscribe(AppointmentCheckedIn)
def appointment_apply_checked_in(event: AppointmentCheckedIn, meta: EventMeta) -> None:
    _touch(meta, status=domain.CHECKED_IN, encounter_id=event.encounter_id)


@subscribe(AppointmentFulfilled)
def appointment_apply_fulfilled(event: AppointmentFulfilled, meta: EventMeta) -> None:
    _touch(meta, status=domain.FULFILLED)


def _touch(meta: EventMeta, **fields: object) -> None:
    update(
        Appointment.all_tenants.filter(id=meta.stream.id, tenant_id=meta.tenant_id),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
