"""The bus: stage order, rollback on subscriber failure, policies, late subscribe."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from django.db import transaction

from hm_core.events import bus, wakeups
from hm_core.events.base import StreamRef
from hm_core.events.bus import Stage, Subscription, publish, subscribe
from hm_core.events.models import Event
from hm_core.patients.services import patient_register
from tests.events.sample_events import SampleHappened


@pytest.fixture
def extra_subscribers(monkeypatch):
    """Add subscribers for one test only (registration is closed once apps are ready)."""
    subs = list(bus._subscriptions)
    monkeypatch.setattr(bus, "_subscriptions", subs)

    def add(handler, *, stage=Stage.PROJECTION, types=("test.sample_happened",)):
        subs.append(Subscription(handler, frozenset(types), stage))
        subs.sort(key=lambda s: s.stage)

    return add


def _sample(scope, stream=None, note=""):
    stream = stream or uuid.uuid4()
    return publish(
        scope=scope,
        stream=StreamRef("sample", stream),
        expected_version=None,
        events=[SampleHappened(sample_id=stream, note=note)],
    )


def test_stages_run_in_fixed_order_whatever_the_registration_order(world, extra_subscribers):
    seen: list[str] = []
    extra_subscribers(lambda e, m: seen.append("audit"), stage=Stage.AUDIT)
    extra_subscribers(lambda e, m: seen.append("policy"), stage=Stage.POLICY)
    extra_subscribers(lambda e, m: seen.append("projection"), stage=Stage.PROJECTION)
    extra_subscribers(lambda e, m: seen.append("timeline"), stage=Stage.TIMELINE)
    _sample(world.scope())
    assert seen == ["projection", "timeline", "audit", "policy"]


def test_a_failing_subscriber_rolls_the_whole_command_back(world, extra_subscribers):
    def explode(event, meta):
        raise RuntimeError("projection failed")

    extra_subscribers(explode, stage=Stage.TIMELINE)
    with pytest.raises(RuntimeError, match="projection failed"):
        _sample(world.scope())
    assert not Event.objects.filter(tenant_id=world.tenant.id).exists()


def test_policies_run_breadth_first_after_the_causing_events_projections(world, extra_subscribers):
    order: list[str] = []

    def policy(event, meta):
        order.append(f"policy:{event.note}")
        if event.note in ("a", "b"):
            child = uuid.uuid4()
            publish(
                scope=meta.scope,
                stream=StreamRef("sample", child),
                expected_version=0,
                events=[SampleHappened(sample_id=child, note=event.note * 2)],
            )

    extra_subscribers(lambda e, m: order.append(f"project:{e.note}"))
    extra_subscribers(policy, stage=Stage.POLICY)
    stream = uuid.uuid4()
    publish(
        scope=world.scope(),
        stream=StreamRef("sample", stream),
        expected_version=0,
        events=[
            SampleHappened(sample_id=stream, note="a"),
            SampleHappened(sample_id=stream, note="b"),
        ],
    )
    assert order == [
        "project:a",
        "project:b",
        "policy:a",
        "project:aa",
        "policy:b",
        "project:bb",
        "policy:aa",
        "policy:bb",
    ]
    caused = Event.objects.get(payload__note="aa")
    assert caused.causation_id == Event.objects.get(payload__note="a").id
    assert caused.actor_username == "system"


def test_a_policy_loop_is_stopped_by_the_depth_limit(world, extra_subscribers):
    def forever(event, meta):
        child = uuid.uuid4()
        publish(
            scope=meta.scope,
            stream=StreamRef("sample", child),
            expected_version=0,
            events=[SampleHappened(sample_id=child)],
        )

    extra_subscribers(forever, stage=Stage.POLICY)
    with pytest.raises(Exception, match="too deep"):
        _sample(world.scope())
    assert not Event.objects.filter(tenant_id=world.tenant.id).exists()


def test_subscribing_after_apps_are_ready_raises():
    with pytest.raises(RuntimeError, match="late subscription"):

        @subscribe(SampleHappened)
        def too_late(event, meta):  # pragma: no cover - never registered
            pass


def test_one_transaction_wakes_each_tenant_once_however_many_commands_it_runs(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    # given: two commands in one transaction, as an HL7 ADT^A04 runs (register, create, ...)
    woken: list[object] = []
    monkeypatch.setattr(wakeups, "wake", woken.append)
    scope = world.scope("admin")

    # when
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for mrn in ("W-1", "W-2"):
            patient_register(
                scope=scope,
                demographics={
                    "full_name": "Ada Lovelace",
                    "mrn": mrn,
                    "date_of_birth": date(1985, 12, 10),
                    "gender": "F",
                },
            )

    # then
    assert woken == [world.tenant.id]
