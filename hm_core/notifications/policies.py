"""Reminders follow their appointment (skipped on replay): booked schedules them, rescheduled
moves them, cancelled withdraws them."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.notifications.services import (
    notification_cancel_reminders,
    notification_move_reminders,
    notification_schedule_reminders,
)
from hm_core.scheduling.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
)


@subscribe(AppointmentBooked, stage=Stage.POLICY)
def reminders_schedule_when_appointment_booked(event: AppointmentBooked, meta: EventMeta) -> None:
    """Each booking reminds the patient ahead of its start, on every channel they have."""
    notification_schedule_reminders(
        scope=meta.scope,
        appointment_id=event.appointment_id,
        patient_id=event.patient_id,
        start=event.start,
    )


@subscribe(AppointmentRescheduled, stage=Stage.POLICY)
def reminders_move_when_appointment_rescheduled(
    event: AppointmentRescheduled, meta: EventMeta
) -> None:
    notification_move_reminders(
        scope=meta.scope, appointment_id=event.appointment_id, start=event.start
    )


@subscribe(AppointmentCancelled, stage=Stage.POLICY)
def reminders_cancel_when_appointment_cancelled(
    event: AppointmentCancelled, meta: EventMeta
) -> None:
    notification_cancel_reminders(
        scope=meta.scope, appointment_id=event.appointment_id, reason="appointment_cancelled"
    )
