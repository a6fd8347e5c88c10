"""The endpoint read model, folded from the endpoint's events (secrets are not in it)."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.webhooks.events import EndpointRegistered, EndpointRemoved, EndpointUpdated
from hm_core.webhooks.models import WebhookEndpoint

rebuildable("webhooks", WebhookEndpoint)


@subscribe(EndpointRegistered)
def endpoint_apply_registered(event: EndpointRegistered, meta: EventMeta) -> None:
    upsert(
        WebhookEndpoint,
        id=event.endpoint_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "url": event.url,
            "description": event.description,
            "event_types": event.event_types,
            "is_active": True,
            "created_by": meta.actor_username,
            "created_at": meta.occurred_at,
            "deleted_at": None,
            "version": meta.stream_version,
        },
    )


@subscribe(EndpointUpdated)
def endpoint_apply_updated(event: EndpointUpdated, meta: EventMeta) -> None:
    update(
        WebhookEndpoint.objects.filter(id=event.endpoint_id),
        **event.changes,
        version=meta.stream_version,
    )


@subscribe(EndpointRemoved)
def endpoint_apply_removed(event: EndpointRemoved, meta: EventMeta) -> None:
    update(
        WebhookEndpoint.objects.filter(id=event.endpoint_id),
        is_active=False,
        deleted_at=meta.occurred_at,
        version=meta.stream_version,
    )
