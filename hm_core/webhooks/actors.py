"""dramatiq actor that sends one webhook delivery."""

from __future__ import annotations

import uuid

import dramatiq

from hm_core.webhooks.delivery import DELIVER_WEBHOOK, QUEUE, deliver


@dramatiq.actor(actor_name=DELIVER_WEBHOOK, queue_name=QUEUE, max_retries=0)
def deliver_webhook(delivery_id: str) -> None:
    """Attempt the delivery if due; retries are scheduled in the database, not in the broker."""
    deliver(uuid.UUID(delivery_id))
