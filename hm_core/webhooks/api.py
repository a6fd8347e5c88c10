"""Outbound webhooks for tenant administrators: endpoints, deliveries, dead letters, redeliver."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.pagination import paginate
from hm_core.common.schemas import PageParams
from hm_core.webhooks import services
from hm_core.webhooks.models import WebhookDelivery, WebhookEndpoint
from hm_core.webhooks.schemas import (
    DeliveryFilters,
    DeliveryOut,
    DeliveryPageOut,
    WebhookCreatedOut,
    WebhookOut,
    WebhookPageOut,
    WebhookRegisterIn,
    WebhookUpdateIn,
)
from hm_core.webhooks.selectors import delivery_list, endpoint_get, endpoint_list

router = Router(tags=["webhooks"])


@router.post("/", response={201: WebhookCreatedOut, **ERRORS})
def webhook_register(request: HttpRequest, payload: WebhookRegisterIn) -> Status[WebhookCreatedOut]:
    """Register an endpoint; events are POSTed as signed JSON (secret shown only now)."""
    endpoint, secret = services.endpoint_register(scope=scope_of(request), **payload.model_dump())
    return Status(201, WebhookCreatedOut.of(endpoint, secret=secret))


@router.get("/", response={200: WebhookPageOut, **ERRORS})
def webhook_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require("tenant.configure")
    return paginate(endpoint_list(scope=scope), limit=page.limit, offset=page.offset)


@router.get("/{webhook_id}/", response={200: WebhookOut, **ERRORS})
def webhook_view(request: HttpRequest, webhook_id: uuid.UUID) -> WebhookEndpoint:
    scope = scope_of(request)
    scope.require("tenant.configure")
    return endpoint_get(scope=scope, endpoint_id=webhook_id)


@router.patch("/{webhook_id}/", response={200: WebhookOut, **ERRORS})
def webhook_update(
    request: HttpRequest, webhook_id: uuid.UUID, payload: WebhookUpdateIn
) -> WebhookEndpoint:
    return services.endpoint_update(
        scope=scope_of(request), endpoint_id=webhook_id, changes=payload.changes()
    )


@router.delete("/{webhook_id}/", response={204: None, **ERRORS})
def webhook_remove(request: HttpRequest, webhook_id: uuid.UUID) -> Status[None]:
    services.endpoint_remove(scope=scope_of(request), endpoint_id=webhook_id)
    return Status(204, None)


@router.get("/{webhook_id}/deliveries/", response={200: DeliveryPageOut, **ERRORS})
def webhook_deliveries(
    request: HttpRequest, webhook_id: uuid.UUID, filters: Query[DeliveryFilters]
) -> dict[str, Any]:
    """Deliveries newest first; `?status=DEAD` is the dead-letter queue."""
    scope = scope_of(request)
    scope.require("tenant.configure")
    qs = delivery_list(scope=scope, endpoint_id=webhook_id, status=filters.status)
    return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver/", response={200: DeliveryOut, **ERRORS}
)
def webhook_redeliver(
    request: HttpRequest, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a dead-lettered delivery again (same delivery id, attempts continue)."""
    return services.delivery_redeliver(
        scope=scope_of(request), endpoint_id=webhook_id, delivery_id=delivery_id
    )
