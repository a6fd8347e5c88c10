"""Events cannot change: not through the model, the queryset, nor raw SQL; tampering is detected."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.chain import verify_chain
from hm_core.events.models import Event, ImmutableEventError
from tests.events.sample_events import SampleHappened


@pytest.fixture
def stored(world):
    scope = world.scope()
    stream = uuid.uuid4()
    events = [SampleHappened(sample_id=stream, note=f"n{i}") for i in range(3)]
    publish(scope=scope, stream=StreamRef("sample", stream), expected_version=0, events=events)
    return Event.objects.filter(tenant_id=world.tenant.id).order_by("position")


def test_model_save_of_a_stored_event_is_refused(stored):
    event = stored.first()
    event.payload = {"note": "changed"}
    with pytest.raises(ImmutableEventError):
        event.save()


def test_model_delete_is_refused(stored):
    with pytest.raises(ImmutableEventError):
        stored.first().delete()


def test_queryset_update_and_delete_are_refused(stored):
    with pytest.raises(ImmutableEventError):
        Event.objects.filter(position=1).update(type="x")
    with pytest.raises(ImmutableEventError):
        Event.objects.filter(position=1).delete()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events_event SET type = 'tampered' WHERE position = 2",
        "DELETE FROM events_event WHERE position = 3",
    ],
)
def test_raw_sql_update_and_delete_are_refused_by_the_trigger(stored, statement):
    with (
        pytest.raises(DatabaseError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert stored.count() == 3
    assert not Event.objects.filter(type="tampered").exists()


def _tamper(sql: str) -> None:
    """Bypass the trigger the way only a database owner could, to prove detection."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE events_event DISABLE TRIGGER events_event_immutable")
            cursor.execute(sql)
            cursor.execute("ALTER TABLE events_event ENABLE TRIGGER events_event_immutable")
        else:
            cursor.execute("DROP TRIGGER events_event_no_update")
            cursor.execute("DROP TRIGGER events_event_no_delete")
            cursor.execute(sql)
            from hm_core.events.migrations_sql import SQLITE_FORWARD

            for statement in SQLITE_FORWARD:
                cursor.execute(statement)


def test_a_tampered_payload_is_detected_by_verify_event_chain(world, stored):
    # given
    assert verify_chain(world.tenant.id).ok
    victim = stored[1]
    # when
    _tamper(
        f"UPDATE events_event SET payload = '{{\"note\": \"forged\"}}' WHERE id = '{_id(victim.id)}'"
    )
    # then
    report = verify_chain(world.tenant.id)
    assert not report.ok
    assert report.first_broken["position"] == 2
    assert report.first_broken["reason"] == "hash does not match content"
    with pytest.raises(CommandError, match="1 broken"):
        call_command("verify_event_chain", "--tenant", "acme")


def test_a_removed_event_is_detected(world, stored):
    _tamper(f"DELETE FROM events_event WHERE id = '{_id(stored[1].id)}'")
    report = verify_chain(world.tenant.id)
    assert not report.ok
    assert report.first_broken["reason"] == "position gap"


def test_a_removed_tail_is_detected_through_the_head(world, stored):
    _tamper(f"DELETE FROM events_event WHERE id = '{_id(stored[2].id)}'")
    report = verify_chain(world.tenant.id)
    assert report.first_broken["reason"] == "head does not match the last event"


def _id(value: uuid.UUID) -> str:
    """UUIDs as each engine stores them (SQLite: 32 hex digits without dashes)."""
    return str(value) if connection.vendor == "postgresql" else value.hex
