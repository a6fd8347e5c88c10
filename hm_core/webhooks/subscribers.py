"""The `webhooks` async subscription: one delivery per matching endpoint and event."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import QuerySet

from hm_core.common.time import utcnow
from hm_core.events.base import DomainEvent, EventMeta
from hm_core.events.subscriptions import async_subscriber
from hm_core.webhooks.delivery import deliver_soon
from hm_core.webhooks.models import WebhookDelivery, WebhookEndpoint


def _active_endpoints(tenant_id: uuid.UUID) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(tenant_id=tenant_id, is_active=True)


@async_subscriber("webhooks", all_events=True, listeners=_active_endpoints)
def deliveries_create_when_event(event: DomainEvent, meta: EventMeta) -> None:
    """Queue the event for every active endpoint that wants it (once: unique per endpoint+event);
    delivery itself happens after commit, outside the checkpoint's transaction."""
    endpoints = [e for e in _active_endpoints(meta.tenant_id) if e.wants(meta.event_type)]
    if not endpoints:
        return
    now = utcnow()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                tenant_id=meta.tenant_id,
                endpoint=e,
                event_id=meta.event_id,
                event_type=meta.event_type,
                position=meta.position,
                next_attempt_at=now,
            )
            for e in endpoints
        ],
        ignore_conflicts=True,
    )
    ids = list(
        WebhookDelivery.objects.filter(event_id=meta.event_id, endpoint__in=endpoints).values_list(
            "id", flat=True
        )
    )
    transaction.on_commit(lambda: deliver_soon(ids))
