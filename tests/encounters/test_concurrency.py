"""Real concurrency on PostgreSQL: many clerks check one patient in at the same moment."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from hm_core.common.errors import InvalidTransition, VersionConflict
from hm_core.common.scope import scope_active
from hm_core.encounters.models import Encounter
from hm_core.encounters.services import encounter_check_in
from hm_core.events.chain import verify_chain
from hm_core.events.models import Event
from hm_core.tasks.models import Task
from hm_core.tasks.services import task_claim
from tests.encounters.conftest import enc_url, make_encounter

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

WRITERS = 10


def _race(target: Callable[[], object], n: int = WRITERS) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
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


def _assert_checked_in_once(world, encounter_id) -> None:
    events = Event.objects.filter(tenant_id=world.tenant.id)
    assert events.filter(stream_id=encounter_id, type="encounter.checked_in").count() == 1
    assert list(
        events.filter(stream_id=encounter_id)
        .order_by("stream_version")
        .values_list("stream_version", flat=True)
    ) == [1, 2]
    tasks = events.filter(type="task.created", payload__encounter_id=str(encounter_id))
    assert [t.payload["kind"] for t in tasks] == ["record_vitals"]
    encounter = Encounter.all_tenants.get(id=encounter_id)
    assert (encounter.status, encounter.version) == ("CHECKED_IN", 2)
    assert verify_chain(world.tenant.id).ok


def test_concurrent_check_ins_through_the_service_exactly_one_wins(world):
    # given
    enc = make_encounter(world, "SCHEDULED")
    scope = world.scope("receptionist")

    # when
    results = _race(lambda: encounter_check_in(scope=scope, encounter_id=enc.id))

    # then
    wins = [r for r in results if isinstance(r, Encounter)]
    losers = [r for r in results if isinstance(r, VersionConflict | InvalidTransition)]
    assert len(results) == WRITERS
    assert len(wins) == 1 and len(losers) == WRITERS - 1, results
    _assert_checked_in_once(world, enc.id)


def test_concurrent_check_ins_over_http_one_200_the_rest_409(world):
    # given
    enc = make_encounter(world, "SCHEDULED")
    clients = [world.api("receptionist") for _ in range(WRITERS)]
    turn = iter(clients)
    pick = threading.Lock()

    def check_in():
        with pick:
            api = next(turn)
        r = api.post(enc_url(enc, "check-in"))
        return r.status_code, r.json()

    # when
    results = _race(check_in)

    # then
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: WRITERS - 1}, results
    codes = {body["error"]["code"] for status, body in results if status == 409}
    assert codes <= {"version_conflict", "invalid_transition"}, results
    _assert_checked_in_once(world, enc.id)


def test_concurrent_claims_of_one_task_give_it_one_assignee(world):
    # given the consult task of a visit, and every clinician trying to take it at once
    enc = make_encounter(world, "VITALS")
    scope = world.scope("admin")
    with scope_active(scope):
        task = Task.objects.for_scope(scope).get(encounter_id=enc.id, kind="consult")
    roles = iter(["doctor", "nurse", "admin", "lab_tech", "lab_tech2"] * 2)
    pick = threading.Lock()

    def claim():
        with pick:
            role = next(roles)
        return task_claim(scope=world.scope(role), task_id=task.id)

    # when
    results = _race(claim)

    # then
    wins = [r for r in results if isinstance(r, Task)]
    losers = [r for r in results if isinstance(r, VersionConflict | InvalidTransition)]
    assert len(wins) == 1 and len(losers) == WRITERS - 1, results
    claims = Event.objects.filter(stream_id=task.id, type="task.claimed")
    assert claims.count() == 1
    stored = Task.all_tenants.get(id=task.id)
    assert (stored.status, stored.version) == ("CLAIMED", 2)
    assert stored.assignee_id == wins[0].assignee_id == claims.get().actor_id
