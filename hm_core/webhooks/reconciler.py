"""The webhooks' part of the reconciler: resend deliveries whose attempt is due."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hm_core.common.time import utcnow
from hm_core.events.broker import uses_workers
from hm_core.events.reconciler import resender
from hm_core.webhooks.delivery import deliver, deliver_soon
from hm_core.webhooks.models import WebhookDelivery


@resender("webhooks")
def resend_due_deliveries(grace: timedelta) -> int:
    """Deliveries due by `grace` ago: to the workers, or sent here and now (a thread per batch
    would die with a `--once` command or the process)."""
    due = due_deliveries(before=utcnow() - grace)
    if uses_workers():
        deliver_soon(due)
    else:
        for delivery_id in due:
            deliver(delivery_id)
    return len(due)


def due_deliveries(*, before: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Pending deliveries whose next attempt was due by `before` (default: now)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=before or utcnow()
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
