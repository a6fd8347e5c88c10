"""Real concurrency on PostgreSQL: 20 writers race for one stream version; the store stays sound."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from hm_core.common.errors import VersionConflict
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.chain import verify_chain
from hm_core.events.models import Event
from tests.events.sample_events import SampleHappened

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

WRITERS = 20


def _race(target, n=WRITERS):
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            outcome: object = target()
        except Exception as exc:  # collected and asserted on by the test
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_twenty_writers_on_one_expected_version_exactly_one_wins(world):
    # given
    scope = world.scope()
    stream = uuid.uuid4()
    publish(
        scope=scope,
        stream=StreamRef("sample", stream),
        expected_version=0,
        events=[SampleHappened(sample_id=stream)],
    )

    # when
    def append():
        return publish(
            scope=scope,
            stream=StreamRef("sample", stream),
            expected_version=1,
            events=[SampleHappened(sample_id=stream, note="race")],
        )

    results = _race(append)

    # then
    conflicts = [r for r in results if isinstance(r, VersionConflict)]
    wins = [r for r in results if isinstance(r, list)]
    assert len(wins) == 1 and len(conflicts) == WRITERS - 1, results
    positions = list(
        Event.objects.filter(tenant_id=world.tenant.id)
        .order_by("position")
        .values_list("position", flat=True)
    )
    assert positions == [1, 2]
    assert verify_chain(world.tenant.id).ok


def test_writers_on_different_streams_all_win_with_gapless_positions(world):
    scope = world.scope()

    def append():
        stream = uuid.uuid4()
        return publish(
            scope=scope,
            stream=StreamRef("sample", stream),
            expected_version=0,
            events=[SampleHappened(sample_id=stream)],
        )

    results = _race(append)
    assert all(isinstance(r, list) for r in results), results
    positions = list(
        Event.objects.filter(tenant_id=world.tenant.id)
        .order_by("position")
        .values_list("position", flat=True)
    )
    assert positions == list(range(1, WRITERS + 1))
    report = verify_chain(world.tenant.id)
    assert report.ok and report.events_checked == WRITERS
