"""Scheduling events. Streams: ("schedule", schedule_id) and ("appointment", appointment_id),
both facility-scoped.

Every appointment event names the appointment, the patient, the practitioner and the booked
interval (UTC), so that each one lands on the patient's timeline and a subscriber needs no read.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from hm_core.events.base import DomainEvent


class WeeklyHours(BaseModel):
    """One weekly opening window, in the facility's local time (0 = Monday)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: int
    start: str  # "HH:MM"
    end: str


class ScheduleCreated(DomainEvent):
    """A practitioner's weekly hours, valid from a date, in the facility's time zone."""

    event_type: ClassVar[str] = "schedule.created"
    schedule_id: uuid.UUID
    practitioner_id: uuid.UUID
    weekly: tuple[WeeklyHours, ...]
    slot_minutes: int
    valid_from: date
    valid_to: date | None
    time_zone: str

    def summary(self) -> str:
        return f"Schedule created ({self.slot_minutes}-minute slots, {self.time_zone})"


class AppointmentEvent(DomainEvent):
    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    start: datetime
    end: datetime


class AppointmentBooked(AppointmentEvent):
    """A patient was booked with a practitioner for a free interval on the schedule's grid."""

    event_type: ClassVar[str] = "appointment.booked"
    reason: str

    def summary(self) -> str:
        return f"Appointment booked for {self.start:%Y-%m-%d %H:%M} UTC"


class AppointmentRescheduled(AppointmentEvent):
    """The appointment moved to another free interval; the old one was freed at once."""

    event_type: ClassVar[str] = "appointment.rescheduled"
    previous_start: datetime
    previous_end: datetime

    def summary(self) -> str:
        return (
            f"Appointment moved from {self.previous_start:%Y-%m-%d %H:%M} "
            f"to {self.start:%Y-%m-%d %H:%M} UTC"
        )


class AppointmentCancelled(AppointmentEvent):
    """The booking was cancelled; its interval is free again."""

    event_type: ClassVar[str] = "appointment.cancelled"
    reason: str

    def summary(self) -> str:
        return "Appointment cancelled"


class AppointmentMarkedNoShow(AppointmentEvent):
    """The patient did not come (recorded after the start)."""

    event_type: ClassVar[str] = "appointment.marked_no_show"

    def summary(self) -> str:
        return "Patient did not attend the appointment"


class AppointmentCheckedIn(AppointmentEvent):
    """The patient arrived: an encounter (`encounter_id`) is created and checked in for it."""

    event_type: ClassVar[str] = "appointment.checked_in"
    encounter_id: uuid.UUID

    def summary(self) -> str:
        return "Patient checked in for the appointment"


class AppointmentFulfilled(AppointmentEvent):
    """The appointment's encounter closed."""

    event_type: ClassVar[str] = "appointment.fulfilled"
    encounter_id: uuid.UUID

    def summary(self) -> str:
        return "Appointment fulfilled"


SCHEDULING_EVENTS: tuple[type[DomainEvent], ...] = (
    ScheduleCreated,
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentMarkedNoShow,
    AppointmentCheckedIn,
    AppointmentFulfilled,
)

__all__ = [cls.__name__ for cls in SCHEDULING_EVENTS] + [
    "SCHEDULING_EVENTS",
    "AppointmentEvent",
    "WeeklyHours",
]
