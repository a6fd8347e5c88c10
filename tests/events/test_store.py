"""Event store: append, versions, positions, hash links, metadata, upcasting, atomicity."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from hm_core.common.errors import ValidationFailed, VersionConflict
from hm_core.events import store
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.chain import verify_chain
from hm_core.events.hashing import GENESIS_HASH
from hm_core.events.models import Event, TenantEventHead
from tests.events.sample_events import SampleHappened, SampleRenamed


def _publish(scope, stream_id, expected, n=1, note=""):
    events = [SampleHappened(sample_id=stream_id, note=note) for _ in range(n)]
    return publish(
        scope=scope, stream=StreamRef("sample", stream_id), expected_version=expected, events=events
    )


def test_append_assigns_stream_versions_positions_and_links_hashes(world):
    # given
    scope = world.scope("doctor")
    stream = uuid.uuid4()
    # when
    first = _publish(scope, stream, 0, n=2)
    second = _publish(scope, stream, 2)
    # then
    rows = list(Event.objects.filter(tenant_id=world.tenant.id).order_by("position"))
    assert [r.stream_version for r in rows] == [1, 2, 3]
    assert [r.position for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert [r.meta.position for r in first + second] == [1, 2, 3]
    head = TenantEventHead.objects.get(tenant_id=world.tenant.id)
    assert (head.position, head.hash) == (3, rows[2].hash)
    assert verify_chain(world.tenant.id).ok


def test_append_stamps_scope_actor_and_request_metadata(world):
    scope = world.scope("nurse")
    [recorded] = _publish(scope, uuid.uuid4(), 0)
    row = Event.objects.get(id=recorded.meta.event_id)
    assert row.tenant_id == world.tenant.id and row.facility_id == world.main.id
    assert row.actor_id == world.users["nurse"].id and row.actor_username == "nurse@acme"
    assert row.request_id == scope.context.request_id
    assert row.type == "test.sample_happened" and row.schema_version == 1


def test_append_with_stale_expected_version_is_a_conflict_and_writes_nothing(world):
    scope = world.scope()
    stream = uuid.uuid4()
    _publish(scope, stream, 0)
    with pytest.raises(VersionConflict):
        _publish(scope, stream, 0)
    assert Event.objects.filter(stream_id=stream).count() == 1


def test_positions_are_per_tenant(world, other_world):
    _publish(world.scope(), uuid.uuid4(), 0)
    [recorded] = _publish(other_world.scope(), uuid.uuid4(), 0)
    assert recorded.meta.position == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_is_refused(world):
    with pytest.raises(RuntimeError, match="inside the command's transaction"):
        store.append(
            scope=world.scope(),
            stream=StreamRef("sample", uuid.uuid4()),
            expected_version=0,
            events=[SampleHappened(sample_id=uuid.uuid4())],
        )


def test_a_rolled_back_command_leaves_no_event_and_no_position_gap(world):
    scope = world.scope()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        _publish(scope, uuid.uuid4(), 0)
        1 / 0  # noqa: B018 - the state change that fails after the append
    [recorded] = _publish(scope, uuid.uuid4(), 0)
    assert recorded.meta.position == 1
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == 1


def test_nul_characters_are_refused_on_every_engine(world):
    with pytest.raises(ValidationFailed):
        _publish(world.scope(), uuid.uuid4(), 0, note="bad\x00text")


def test_old_payload_versions_are_upcast_when_loaded(world):
    stream = uuid.uuid4()
    row = Event(
        id=uuid.uuid4(),
        tenant_id=world.tenant.id,
        facility_id=world.main.id,
        stream_type="sample",
        stream_id=stream,
        stream_version=1,
        position=1,
        type="test.sample_renamed",
        schema_version=1,
        payload={"sample_id": str(stream), "title": "old name"},
        actor_username="x",
        occurred_at="2026-01-01T00:00:00Z",
        recorded_at="2026-01-01T00:00:00Z",
        prev_hash="0",
        hash="0",
    )
    loaded = store.load(row)
    assert isinstance(loaded.event, SampleRenamed)
    assert loaded.event.name == "old name"
