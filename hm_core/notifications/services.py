"""Reminder write use-cases. Called by this module's policies (on appointment events) and by
the sender; every change is an event on the notification's stream.

The reminders' permission, `notifications.send`, is held by the system principal only: no
person schedules, moves or records a reminder by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction

from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.events.unit_of_work import command_block
from hm_core.notifications import domain
from hm_core.notifications.dispatch import send_soon
from hm_core.notifications.models import Notification
from hm_core.notifications.selectors import notification_get, notifications_of_appointment
from hm_core.patients.selectors import patient_get

PERMISSION = "notifications.send"
Decision = Callable[[domain.NotificationState], Sequence[DomainEvent]]
STREAM = "notification"


def lead_time() -> timedelta:
    return timedelta(minutes=settings.HM_REMINDER_LEAD_MINUTES)


def state_of(notification: Notification) -> domain.NotificationState:
    return domain.NotificationState(
        notification_id=notification.id,
        patient_id=notification.patient_id,
        appointment_id=notification.appointment_id,
        channel=notification.channel,
        status=notification.status,
        attempts=notification.attempts,
    )


def notification_schedule_reminders(
    *, scope: Scope, appointment_id: uuid.UUID, patient_id: uuid.UUID, start: datetime
) -> list[uuid.UUID]:
    """A reminder per channel the patient can be reached on (e-mail, phone), `lead_time()`
    before the start or at once; the ones due now go to the senders after commit."""
    scope.require(PERMISSION)
    due = domain.reminder_due(start=start, lead=lead_time(), now=utcnow())
    ids: list[uuid.UUID] = []
    with scope_active(scope), command_block():
        patient = patient_get(scope=scope, patient_id=patient_id)
        reachable = ((domain.EMAIL, patient.email), (domain.SMS, patient.phone))
        for channel in [channel for channel, address in reachable if address]:
            notification_id = uuid.uuid4()
            events = domain.schedule(
                notification_id=notification_id,
                patient_id=patient_id,
                appointment_id=appointment_id,
                channel=channel,
                start=start,
                due_at=due,
            )
            publish(
                scope=scope,
                stream=StreamRef(STREAM, notification_id),
                expected_version=0,
                events=events,
            )
            ids.append(notification_id)
    _send_if_due(ids, due)
    return ids


def _send_if_due(ids: list[uuid.UUID], due: datetime) -> None:
    if ids and due <= utcnow():
        transaction.on_commit(partial(send_soon, ids), robust=True)


def notification_move_reminders(
    *, scope: Scope, appointment_id: uuid.UUID, start: datetime
) -> None:
    """The appointment moved: its reminders are due again, `lead_time()` before the new start."""
    scope.require(PERMISSION)
    due = domain.reminder_due(start=start, lead=lead_time(), now=utcnow())
    moved = _each(scope, appointment_id, lambda s: domain.move(s, start=start, due_at=due))
    _send_if_due(moved, due)


def notification_cancel_reminders(*, scope: Scope, appointment_id: uuid.UUID, reason: str) -> None:
    """The appointment was cancelled: reminders not sent yet are withdrawn."""
    scope.require(PERMISSION)
    _each(scope, appointment_id, lambda s: domain.cancel(s, reason=reason))


def _each(scope: Scope, appointment_id: uuid.UUID, decide: Decision) -> list[uuid.UUID]:
    changed: list[uuid.UUID] = []
    with scope_active(scope), command_block():
        for notification in notifications_of_appointment(
            scope=scope, appointment_id=appointment_id
        ):
            events = decide(state_of(notification))
            if events:
                publish(
                    scope=scope,
                    stream=StreamRef(STREAM, notification.id),
                    expected_version=notification.version,
                    events=events,
                )
                changed.append(notification.id)
    return changed


def notification_record_attempt(
    *, scope: Scope, notification_id: uuid.UUID, expected_version: int, error: str | None
) -> Notification:
    """The outcome of one send attempt, against the version the sender claimed: if the reminder
    was moved or withdrawn meanwhile, this is a 412 and the outcome is dropped."""
    return run_command(
        scope=scope,
        permission=PERMISSION,
        stream_type=STREAM,
        load=lambda: notification_get(scope=scope, notification_id=notification_id),
        decide=lambda n: domain.record_attempt(
            state_of(n),
            error=error,
            now=utcnow(),
            max_attempts=settings.HM_NOTIFICATION_MAX_ATTEMPTS,
            backoff=timedelta(seconds=settings.HM_NOTIFICATION_BACKOFF_SECONDS),
        ),
        expected_version=expected_version,
    )
