"""Notification (reminder) events. Stream: ("notification", notification_id), facility-scoped.

One notification per appointment and channel (`email`, `sms`). A reschedule moves it with a
second `notification.scheduled` on the same stream; a failed attempt that will be retried is a
`notification.failed` with `final` false and the time of the next attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from hm_core.events.base import DomainEvent


class NotificationEvent(DomainEvent):
    notification_id: uuid.UUID
    patient_id: uuid.UUID
    appointment_id: uuid.UUID
    channel: str  # "email" | "sms"


class NotificationScheduled(NotificationEvent):
    """A reminder of the appointment starting at `appointment_start` is due at `due_at`."""

    event_type: ClassVar[str] = "notification.scheduled"
    kind: str  # "appointment_reminder"
    due_at: datetime
    appointment_start: datetime

    def summary(self) -> str:
        return f"{self.channel} reminder scheduled for {self.due_at:%Y-%m-%d %H:%M} UTC"


class NotificationSent(NotificationEvent):
    """The backend accepted the message (attempt `attempt`)."""

    event_type: ClassVar[str] = "notification.sent"
    attempt: int

    def summary(self) -> str:
        return f"{self.channel} reminder sent"


class NotificationFailed(NotificationEvent):
    """An attempt failed: retried at `next_attempt_at`, or given up when `final`."""

    event_type: ClassVar[str] = "notification.failed"
    attempt: int
    error: str  # the failure's kind only: a backend's message may quote the address
    final: bool
    next_attempt_at: datetime | None

    def summary(self) -> str:
        outcome = "given up" if self.final else "will retry"
        return f"{self.channel} reminder failed ({self.error}; {outcome})"


class NotificationCancelled(NotificationEvent):
    """The reminder was withdrawn before it was sent (its appointment was cancelled)."""

    event_type: ClassVar[str] = "notification.cancelled"
    reason: str

    def summary(self) -> str:
        return f"{self.channel} reminder withdrawn"


NOTIFICATION_EVENTS: tuple[type[NotificationEvent], ...] = (
    NotificationScheduled,
    NotificationSent,
    NotificationFailed,
    NotificationCancelled,
)

__all__ = [cls.__name__ for cls in NOTIFICATION_EVENTS] + [
    "NOTIFICATION_EVENTS",
    "NotificationEvent",
]
