"""dramatiq actor that sends one reminder."""

from __future__ import annotations

import uuid

import dramatiq

from hm_core.notifications.delivery import deliver
from hm_core.notifications.dispatch import QUEUE, SEND_NOTIFICATION


@dramatiq.actor(actor_name=SEND_NOTIFICATION, queue_name=QUEUE, max_retries=0)
def send_notification(notification_id: str) -> None:
    """Attempt the reminder if due; retries are scheduled as events, not in the broker."""
    deliver(uuid.UUID(notification_id))
