"""Webhook write use-cases for tenant administrators: register, change, remove, redeliver."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.db import transaction

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.events.base import catalogue
from hm_core.webhooks.delivery import deliver_soon
from hm_core.webhooks.models import WebhookDelivery, WebhookEndpoint
from hm_core.webhooks.security import check_url
from hm_core.webhooks.selectors import delivery_get, endpoint_get


def _check_event_types(event_types: list[str]) -> None:
    known = set(catalogue())
    modules = {t.split(".", 1)[0] for t in known}
    for index, pattern in enumerate(event_types):
        module, _, rest = pattern.partition(".")
        if pattern not in known and not (rest == "*" and module in modules):
            raise ValidationFailed.field(f"event_types.{index}", f"unknown event type {pattern!r}")


def endpoint_register(
    *, scope: Scope, url: str, event_types: list[str], secret: str | None, description: str
) -> WebhookEndpoint:
    """Register a receiver; the URL must not point inside the network (SSRF guard)."""
    scope.require("tenant.configure")
    check_url(url)
    _check_event_types(event_types)
    return WebhookEndpoint.objects.create(
        tenant_id=scope.tenant_id,
        url=url,
        event_types=event_types,
        secret=secret or secrets.token_urlsafe(32),
        description=description,
        created_by=scope.principal.username,
    )


def endpoint_update(
    *, scope: Scope, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> WebhookEndpoint:
    scope.require("tenant.configure")
    endpoint = endpoint_get(scope=scope, endpoint_id=endpoint_id)
    if "url" in changes:
        check_url(changes["url"])
    if "event_types" in changes:
        _check_event_types(changes["event_types"])
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.save()
    return endpoint


def endpoint_remove(*, scope: Scope, endpoint_id: uuid.UUID) -> None:
    """Stop deliveries and hide the endpoint; its delivery history is kept for audit."""
    scope.require("tenant.configure")
    endpoint = endpoint_get(scope=scope, endpoint_id=endpoint_id)
    endpoint.is_active, endpoint.deleted_at = False, utcnow()
    endpoint.save(update_fields=["is_active", "deleted_at"])


@transaction.atomic
def delivery_redeliver(
    *, scope: Scope, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a dead-lettered (or delivered) event again, now, with the same delivery id."""
    scope.require("tenant.configure")
    delivery = delivery_get(scope=scope, endpoint_id=endpoint_id, delivery_id=delivery_id)
    if delivery.status == WebhookDelivery.Status.PENDING:
        raise InvalidTransition(details={"from": delivery.status, "action": "redeliver"})
    delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.PENDING, utcnow()
    delivery.save(update_fields=["status", "next_attempt_at"])
    transaction.on_commit(lambda: deliver_soon([delivery.id]))
    return delivery
