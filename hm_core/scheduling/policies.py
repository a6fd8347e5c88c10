"""Scheduling reactions (skipped on replay): a check-in opens the visit, its close fulfils."""

from __future__ import annotations

from hm_core.common.scope import scope_active
from hm_core.encounters.events import EncounterClosed
from hm_core.encounters.services import encounter_check_in, encounter_create
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.scheduling import domain
from hm_core.scheduling.events import AppointmentCheckedIn
from hm_core.scheduling.selectors import appointment_find_by_encounter, appointment_get
from hm_core.scheduling.services import appointment_fulfill


@subscribe(AppointmentCheckedIn, stage=Stage.POLICY)
def encounter_open_when_appointment_checked_in(
    event: AppointmentCheckedIn, meta: EventMeta
) -> None:
    """The encounter the check-in named is created for the booked start and checked in, in
    the same transaction: an arrived patient always has an open visit."""
    encounter_create(
        scope=meta.scope,
        patient_id=event.patient_id,
        reason=_reason(meta),
        scheduled_at=event.start,
        encounter_id=event.encounter_id,
    )
    encounter_check_in(scope=meta.scope, encounter_id=event.encounter_id)


def _reason(meta: EventMeta) -> str:
    with scope_active(meta.scope):
        reason = appointment_get(scope=meta.scope, appointment_id=meta.stream.id).reason
    return reason or "Appointment"


@subscribe(EncounterClosed, stage=Stage.POLICY)
def appointment_fulfill_when_encounter_closed(event: EncounterClosed, meta: EventMeta) -> None:
    """The visit of a checked-in appointment closed: the appointment is fulfilled."""
    with scope_active(meta.scope):
        appointment = appointment_find_by_encounter(
            scope=meta.scope, encounter_id=event.encounter_id
        )
    if appointment is not None and appointment.status == domain.CHECKED_IN:
        appointment_fulfill(scope=meta.scope, appointment_id=appointment.id)
