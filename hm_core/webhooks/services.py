"""Webhook write use-cases for tenant administrators: register, change, remove (events on the
tenant's chain), redeliver."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from django.db import transaction

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.backfill import Pending, config_backfill
from hm_core.events.base import DomainEvent, StreamRef, catalogue
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.events.models import Event
from hm_core.webhooks.delivery import deliver_soon
from hm_core.webhooks.events import EndpointRegistered, EndpointRemoved, EndpointUpdated
from hm_core.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSecret
from hm_core.webhooks.security import check_url
from hm_core.webhooks.selectors import delivery_get, endpoint_get

STREAM = "webhook_endpoint"


def _check_event_types(event_types: list[str]) -> None:
    known = set(catalogue())
    modules = {t.split(".", 1)[0] for t in known}
    for index, pattern in enumerate(event_types):
        module, _, rest = pattern.partition(".")
        if pattern not in known and not (rest == "*" and module in modules):
            raise ValidationFailed.field(f"event_types.{index}", f"unknown event type {pattern!r}")


def endpoint_register(
    *, scope: Scope, url: str, event_types: list[str], secret: str | None, description: str
) -> tuple[WebhookEndpoint, str]:
    """Register a receiver (the URL must not point inside the network: SSRF guard); answers
    the endpoint and its signing secret, which is shown only now."""
    scope.require("tenant.configure")
    check_url(url)
    _check_event_types(event_types)
    endpoint_id, secret = uuid.uuid4(), secret or secrets.token_urlsafe(32)
    event = EndpointRegistered(
        endpoint_id=endpoint_id, url=url, description=description, event_types=event_types
    )
    with scope_active(scope), transaction.atomic():
        publish(scope=scope, stream=_stream(endpoint_id), expected_version=0, events=[event])
        WebhookSecret.objects.create(
            endpoint_id=endpoint_id, tenant_id=scope.tenant_id, secret=secret
        )
        return endpoint_get(scope=scope, endpoint_id=endpoint_id), secret


def endpoint_update(
    *, scope: Scope, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> WebhookEndpoint:
    """Change what really changed; a new secret replaces the old one and the event says so."""
    if "url" in changes:
        check_url(changes["url"])
    if "event_types" in changes:
        _check_event_types(changes["event_types"])
    secret = changes.pop("secret", None)

    def decide(endpoint: WebhookEndpoint) -> list[EndpointUpdated]:
        changed = {k: v for k, v in changes.items() if getattr(endpoint, k) != v}
        if secret is not None:
            WebhookSecret.objects.filter(endpoint_id=endpoint.id).update(secret=secret)
        if not changed and secret is None:
            return []
        return [
            EndpointUpdated(
                endpoint_id=endpoint.id, changes=changed, secret_rotated=secret is not None
            )
        ]

    return run_command(
        scope=scope,
        permission="tenant.configure",
        stream_type=STREAM,
        load=lambda: endpoint_get(scope=scope, endpoint_id=endpoint_id),
        decide=decide,
        expected_version=None,
    )


def endpoint_remove(*, scope: Scope, endpoint_id: uuid.UUID) -> None:
    """Stop deliveries and hide the endpoint; its delivery history is kept for audit."""
    scope.require("tenant.configure")
    with scope_active(scope), transaction.atomic():
        endpoint = endpoint_get(scope=scope, endpoint_id=endpoint_id)
        event = EndpointRemoved(endpoint_id=endpoint.id)
        publish(
            scope=scope,
            stream=_stream(endpoint.id),
            expected_version=endpoint.version,
            events=[event],
        )


def _stream(endpoint_id: uuid.UUID) -> StreamRef:
    return StreamRef(STREAM, endpoint_id)


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


@config_backfill("webhooks")
def endpoints_without_events(tenant_id: uuid.UUID | None) -> Iterator[Pending]:
    """Endpoints registered before endpoint changes were events, recorded as they stand
    (registered at their creation time, and removed if they were)."""
    recorded = Event.objects.filter(stream_type=STREAM).values("stream_id")
    rows = WebhookEndpoint.objects.exclude(id__in=recorded)
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    for row in rows.order_by("tenant_id", "created_at", "id"):
        events: list[DomainEvent] = [
            EndpointRegistered(
                endpoint_id=row.id,
                url=row.url,
                description=row.description,
                event_types=row.event_types,
            )
        ]
        if row.deleted_at is not None:
            events.append(EndpointRemoved(endpoint_id=row.id))
        elif not row.is_active:
            events.append(EndpointUpdated(endpoint_id=row.id, changes={"is_active": False}))
        yield Pending(row.tenant_id, _stream(row.id), events, occurred_at=row.created_at)
