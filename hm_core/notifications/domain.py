"""Reminder decisions — pure Python, no Django.

SCHEDULED → SENT | FAILED (attempts exhausted) | CANCELLED
SCHEDULED → SCHEDULED (a failed attempt to retry, or moved by a reschedule)
SENT | FAILED → SCHEDULED (moved: the appointment moved, the patient is reminded again)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from hm_core.common.errors import InvalidTransition
from hm_core.notifications.events import (
    NotificationCancelled,
    NotificationEvent,
    NotificationFailed,
    NotificationScheduled,
    NotificationSent,
)

SCHEDULED, SENT, FAILED, CANCELLED = "SCHEDULED", "SENT", "FAILED", "CANCELLED"
STATUSES = (SCHEDULED, SENT, FAILED, CANCELLED)
EMAIL, SMS = "email", "sms"
APPOINTMENT_REMINDER = "appointment_reminder"


@dataclass(frozen=True)
class NotificationState:
    notification_id: uuid.UUID
    patient_id: uuid.UUID
    appointment_id: uuid.UUID
    channel: str
    status: str
    attempts: int

    def ids(self) -> dict[str, object]:
        return {
            "notification_id": self.notification_id,
            "patient_id": self.patient_id,
            "appointment_id": self.appointment_id,
            "channel": self.channel,
        }


def reminder_due(*, start: datetime, lead: timedelta, now: datetime) -> datetime:
    """`lead` before the start, or now when that moment has already passed."""
    return max(start - lead, now)


def schedule(
    *,
    notification_id: uuid.UUID,
    patient_id: uuid.UUID,
    appointment_id: uuid.UUID,
    channel: str,
    start: datetime,
    due_at: datetime,
) -> list[NotificationScheduled]:
    return [
        NotificationScheduled(
            notification_id=notification_id,
            patient_id=patient_id,
            appointment_id=appointment_id,
            channel=channel,
            kind=APPOINTMENT_REMINDER,
            due_at=due_at,
            appointment_start=start,
        )
    ]


def move(
    state: NotificationState, *, start: datetime, due_at: datetime
) -> list[NotificationScheduled]:
    """A reminder of a moved appointment is due again (a withdrawn one stays withdrawn)."""
    if state.status == CANCELLED:
        return []
    return [
        NotificationScheduled(
            **state.ids(),  # type: ignore[arg-type]
            kind=APPOINTMENT_REMINDER,
            due_at=due_at,
            appointment_start=start,
        )
    ]


def cancel(state: NotificationState, *, reason: str) -> list[NotificationCancelled]:
    """Withdraw a reminder not sent yet; a sent or given-up one is left as it is."""
    if state.status != SCHEDULED:
        return []
    return [NotificationCancelled(**state.ids(), reason=reason)]  # type: ignore[arg-type]


def record_attempt(
    state: NotificationState,
    *,
    error: str | None,
    now: datetime,
    max_attempts: int,
    backoff: timedelta,
) -> list[NotificationEvent]:
    """One send attempt's outcome; failures back off exponentially until `max_attempts`."""
    if state.status != SCHEDULED:
        raise InvalidTransition(details={"status": state.status})
    attempt = state.attempts + 1
    if error is None:
        return [NotificationSent(**state.ids(), attempt=attempt)]  # type: ignore[arg-type]
    final = attempt >= max_attempts
    return [
        NotificationFailed(
            **state.ids(),  # type: ignore[arg-type]
            attempt=attempt,
            error=error[:200],
            final=final,
            next_attempt_at=None if final else now + backoff * 2 ** (attempt - 1),
        )
    ]
