"""Webhook reads, always within the caller's tenant."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoint_list(*, scope: Scope) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(
        tenant_id=scope.tenant_id, deleted_at__isnull=True
    ).order_by("created_at", "id")


def endpoint_get(*, scope: Scope, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = endpoint_list(scope=scope).filter(id=endpoint_id).first()
    if endpoint is None:
        raise NotFound(details={"resource": "webhook"})
    return endpoint


def delivery_list(
    *, scope: Scope, endpoint_id: uuid.UUID, status: str | None
) -> QuerySet[WebhookDelivery]:
    endpoint = endpoint_get(scope=scope, endpoint_id=endpoint_id)
    qs = WebhookDelivery.objects.filter(tenant_id=scope.tenant_id, endpoint=endpoint)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-position", "id")


def delivery_get(
    *, scope: Scope, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    delivery = (
        delivery_list(scope=scope, endpoint_id=endpoint_id, status=None)
        .filter(id=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound(details={"resource": "webhook_delivery"})
    return delivery


def delivery_backlog() -> dict[str, int]:
    """Deliveries still to send, over every tenant (for /api/health/): `pending` in all,
    `overdue` those whose attempt is due for over a minute (nobody is sending), `dead`."""
    # Cross-tenant on purpose: an operator's view of the outbox, counts only.
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    return {
        "pending": pending.count(),
        "overdue": pending.filter(next_attempt_at__lt=utcnow() - timedelta(minutes=1)).count(),
        "dead": WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD).count(),
    }
