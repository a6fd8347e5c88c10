"""Webhook endpoints as tenant configuration on the chain; secrets stay out of the events."""

from __future__ import annotations

from django.core.management import call_command

from hm_core.common.time import utcnow
from hm_core.events import subscriptions
from hm_core.events.models import Event
from hm_core.events.replay import rebuild
from hm_core.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSecret
from tests.webhooks.test_webhooks import SECRET, register, register_patient


def endpoint_events(world):
    return list(
        Event.objects.filter(tenant_id=world.tenant.id, stream_type="webhook_endpoint")
        .order_by("position")
        .values_list("type", "payload")
    )


def test_register_change_and_remove_are_events_without_the_secret(world, receiver):
    rx = receiver()
    admin = world.api("admin")
    hook = register(world, rx.url, ["patient.*"])

    admin.patch(f"/api/webhooks/{hook}/", {"description": "ops", "secret": "x" * 20})
    assert admin.delete(f"/api/webhooks/{hook}/").status_code == 204

    events = endpoint_events(world)
    assert [t for t, _ in events] == [
        "webhook.endpoint_registered",
        "webhook.endpoint_updated",
        "webhook.endpoint_removed",
    ]
    assert events[1][1]["changes"] == {"description": "ops"} and events[1][1]["secret_rotated"]
    stored = str(events)
    assert SECRET not in stored and "x" * 20 not in stored
    assert WebhookSecret.objects.get(endpoint_id=hook).secret == "x" * 20


def test_configuration_events_are_not_delivered_to_receivers(world, receiver):
    register(world, receiver().url)  # an endpoint for every event
    register(world, receiver().url)
    register_patient(world)

    subscriptions.drain(world.tenant.id)

    types = set(WebhookDelivery.objects.values_list("event_type", flat=True))
    assert types == {"patient.registered"}


def test_a_rebuild_keeps_endpoints_secrets_and_delivery_history(world, receiver):
    rx = receiver()
    hook = register(world, rx.url, ["patient.*"])
    world.api("admin").patch(f"/api/webhooks/{hook}/", {"description": "ops"})
    register_patient(world)
    subscriptions.drain(world.tenant.id)
    live = world.api("admin").get(f"/api/webhooks/{hook}/").json()

    rebuild(["webhooks"], tenant_ids=[world.tenant.id])

    assert world.api("admin").get(f"/api/webhooks/{hook}/").json() == live
    assert WebhookSecret.objects.get(endpoint_id=hook).secret == SECRET
    assert WebhookDelivery.objects.filter(endpoint_id=hook).count() == 1


def test_endpoints_registered_before_they_were_events_are_backfilled_once(world):
    # given two endpoints written straight into the table by an earlier version, one removed
    created = utcnow()
    kept, removed = (
        WebhookEndpoint.objects.create(
            tenant_id=world.tenant.id,
            url=f"https://hooks.example.org/{name}",
            event_types=[],
            created_by="admin",
            created_at=created,
            deleted_at=deleted,
            is_active=deleted is None,
        )
        for name, deleted in (("kept", None), ("removed", created))
    )

    call_command("backfill_config_events")
    call_command("backfill_config_events")
    rebuild(["webhooks"], tenant_ids=[world.tenant.id])

    assert sorted(t for t, _ in endpoint_events(world)) == [
        "webhook.endpoint_registered",
        "webhook.endpoint_registered",
        "webhook.endpoint_removed",
    ]
    kept.refresh_from_db(), removed.refresh_from_db()
    assert kept.is_active and kept.created_at == created and kept.deleted_at is None
    assert not removed.is_active and removed.deleted_at is not None
