"""The notifications' part of the reconciler: send reminders that are due (first attempts
whose time came, retries whose backoff ran out, messages a broker or a process lost)."""

from __future__ import annotations

from datetime import timedelta

from hm_core.common.time import utcnow
from hm_core.events.broker import uses_workers
from hm_core.events.reconciler import resender
from hm_core.notifications.delivery import deliver
from hm_core.notifications.dispatch import send_soon
from hm_core.notifications.selectors import due_notifications


@resender("notifications")
def resend_due_notifications(grace: timedelta) -> int:
    """Reminders due by `grace` ago: to the workers, or sent here and now."""
    due = due_notifications(before=utcnow() - grace)
    if uses_workers():
        send_soon(due)
    else:
        for notification_id in due:
            deliver(notification_id)
    return len(due)
