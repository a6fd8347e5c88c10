"""After-commit work only when someone listens (issue 10): a command whose events no async
subscription has work for moves the caught-up checkpoints in its own transaction and wakes
nobody; one that concerns a listener, or finds a subscription lagging, wakes as before.
Real commits (transactional tests): the nudge is an on-commit callback."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest

from hm_core.events import subscriptions, wakeups
from hm_core.events.models import SubscriptionCheckpoint, TenantEventHead
from hm_core.events.unit_of_work import command_block
from hm_core.interop.services import channel_create
from hm_core.patients.services import patient_register
from hm_core.webhooks.services import endpoint_register
from tests.conftest import World
from tests.statements import statements_sent


@pytest.fixture
def wakes(monkeypatch) -> list[uuid.UUID]:
    woken: list[uuid.UUID] = []
    monkeypatch.setattr(wakeups, "wake", woken.append)
    return woken


pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def register(world: World, mrn: str) -> None:
    body = {"full_name": "Ada Lovelace", "mrn": mrn, "date_of_birth": "1985-12-10", "gender": "F"}
    assert world.api("nurse").post("/api/patients/", body).status_code == 201


def checkpoints(world: World) -> dict[str, int]:
    rows = SubscriptionCheckpoint.objects.filter(tenant_id=world.tenant.id)
    return dict(rows.values_list("name", "position"))


def head(world: World) -> int:
    return TenantEventHead.objects.get(tenant_id=world.tenant.id).position


def test_with_no_listener_a_command_moves_every_checkpoint_to_the_head_and_wakes_nobody(
    world, wakes
):
    register(world, "MRN-0")
    subscriptions.drain(world.tenant.id)  # the tenant's checkpoints exist and are caught up
    wakes.clear()

    register(world, "MRN-1")

    assert wakes == []
    assert set(checkpoints(world).values()) == {head(world)}
    assert set(subscriptions.lag_by_subscription().values()) == {0}


def test_an_active_webhook_endpoint_makes_the_same_command_wake_and_deliver(world, wakes, settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    endpoint_register(
        scope=world.scope("admin"),
        url="http://127.0.0.1:9/in",
        event_types=["patient.*"],
        secret=None,
        description="",
    )
    subscriptions.drain(world.tenant.id)
    wakes.clear()

    register(world, "MRN-1")

    assert wakes == [world.tenant.id]
    assert checkpoints(world)["webhooks"] == head(world) - 1  # left for the workers
    assert checkpoints(world)["hl7_outbound"] == head(world)  # wants no patient events


def test_a_lagging_checkpoint_is_never_moved_past_events_it_has_not_seen(world, wakes):
    register(world, "MRN-0")
    subscriptions.drain(world.tenant.id)
    behind = head(world) - 1
    SubscriptionCheckpoint.objects.filter(tenant_id=world.tenant.id, name="webhooks").update(
        position=behind
    )
    wakes.clear()

    register(world, "MRN-1")

    assert wakes == [world.tenant.id]
    assert checkpoints(world)["webhooks"] == behind
    subscriptions.drain(world.tenant.id)
    assert set(checkpoints(world).values()) == {head(world)}


def test_an_outbound_channel_is_a_listener_only_for_the_events_it_may_send(world, wakes):
    channel_create(
        scope=world.scope("admin"),
        name="lis",
        protocol="hl7v2",
        facility_id=world.main.id,
        sending_application="LIS",
        sending_facility="LAB",
        outbound_host="127.0.0.1",
        outbound_port=2575,
        outbound_events=["order.placed"],
    )
    register(world, "MRN-0")
    subscriptions.drain(world.tenant.id)
    wakes.clear()

    register(world, "MRN-1")  # not an HL7 outbound event

    assert wakes == []
    assert set(checkpoints(world).values()) == {head(world)}


def _checkpoint_updates(call) -> int:
    with statements_sent() as sent:
        call()
    return sum('UPDATE "events_subscription_checkpoint"' in sql for sql in sent)


def _register_in_one_unit_of_work(world: World, mrns: list[str]) -> None:
    scope = world.scope("nurse")
    with command_block():
        for mrn in mrns:
            patient_register(
                scope=scope,
                demographics={
                    "full_name": "Ada Lovelace",
                    "mrn": mrn,
                    "date_of_birth": date(1985, 12, 10),
                    "gender": "F",
                    "phone": "",
                    "email": "",
                    "address": None,
                },
            )


def test_a_unit_of_work_of_many_commands_moves_the_checkpoints_in_one_update(world, wakes):
    register(world, "MRN-0")
    subscriptions.drain(world.tenant.id)
    wakes.clear()

    updates = _checkpoint_updates(
        lambda: _register_in_one_unit_of_work(world, [f"MRN-{n}" for n in range(1, 6)])
    )

    assert updates == 1  # not one per command
    assert wakes == []
    assert set(checkpoints(world).values()) == {head(world)}


def test_a_listener_added_by_the_unit_of_work_keeps_its_checkpoint_for_the_workers(
    world, wakes, settings
):
    settings.WEBHOOK_ALLOW_HTTP = True
    register(world, "MRN-0")
    subscriptions.drain(world.tenant.id)
    before = head(world)
    wakes.clear()

    with command_block():
        _register_in_one_unit_of_work(world, ["MRN-1"])
        endpoint_register(
            scope=world.scope("admin"),
            url="http://127.0.0.1:9/in",
            event_types=["patient.*"],
            secret=None,
            description="",
        )
        _register_in_one_unit_of_work(world, ["MRN-2"])

    assert wakes == [world.tenant.id]
    assert checkpoints(world)["webhooks"] == before  # MRN-2's registration is the workers' work
    assert checkpoints(world)["hl7_outbound"] == head(world)


def _behind(world: World) -> None:
    SubscriptionCheckpoint.objects.filter(tenant_id=world.tenant.id, name="webhooks").update(
        position=0
    )


def test_a_worker_catching_up_with_no_listener_passes_the_events_without_handling_each(
    world, monkeypatch
):
    register(world, "MRN-0")
    _behind(world)  # as for a new tenant, or a worker that was down
    handled: list[str] = []
    sub = subscriptions._registry["webhooks"]
    monkeypatch.setitem(
        subscriptions._registry,
        "webhooks",
        replace(sub, handler=lambda event, meta: handled.append(meta.event_type)),
    )

    subscriptions.drain(world.tenant.id, names=["webhooks"])

    assert handled == []
    assert checkpoints(world)["webhooks"] == head(world)


def test_a_worker_hands_the_events_over_once_a_listener_exists(world, monkeypatch, settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    register(world, "MRN-0")
    endpoint_register(
        scope=world.scope("admin"),
        url="http://127.0.0.1:9/in",
        event_types=["patient.*"],
        secret=None,
        description="",
    )
    _behind(world)
    handled: list[str] = []
    sub = subscriptions._registry["webhooks"]
    monkeypatch.setitem(
        subscriptions._registry,
        "webhooks",
        replace(sub, handler=lambda event, meta: handled.append(meta.event_type)),
    )

    subscriptions.drain(world.tenant.id, names=["webhooks"])

    assert "patient.registered" in handled
    assert checkpoints(world)["webhooks"] == head(world)
