"""Real races on PostgreSQL: one MRN registered twice at once, one patient patched at once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from hm_core.events.chain import verify_chain
from hm_core.events.models import Event
from hm_core.patients.models import Patient
from tests.patients.factories import patient_body, register_patient

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _race(targets) -> list:
    """Run each target in its own thread (own connection), all released at once."""
    barrier = threading.Barrier(len(targets))
    results: list = []
    lock = threading.Lock()

    def run(target):
        try:
            barrier.wait(timeout=30)
            outcome: object = target()
        except Exception as exc:  # collected and asserted on by the test
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _statuses(results) -> list[int]:
    assert all(not isinstance(r, Exception) for r in results), results
    return sorted(r.status_code for r in results)


@pytest.mark.parametrize("with_keys", [False, True], ids=["plain", "idempotency-keys"])
def test_one_mrn_registered_by_many_at_once_creates_one_patient(world, with_keys):
    # given (with keys, each command runs inside its key's transaction: a lost race must still
    # leave that transaction usable to record the 409)
    writers = 8
    bodies = [patient_body(mrn="MRN-RACE", full_name=f"Writer {i}") for i in range(writers)]

    def post(i: int):
        headers = {"Idempotency-Key": f"race-{i}"} if with_keys else None
        return world.api().post("/api/patients/", bodies[i], headers=headers)

    # when
    results = _race([lambda i=i: post(i) for i in range(writers)])

    # then
    assert _statuses(results) == [201] + [409] * (writers - 1)
    losers = [r for r in results if r.status_code == 409]
    assert {r.json()["error"]["code"] for r in losers} == {"duplicate_mrn"}
    assert Patient.all_tenants.filter(tenant_id=world.tenant.id, mrn="MRN-RACE").count() == 1
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == 1
    assert verify_chain(world.tenant.id).ok


def test_two_patches_with_the_same_if_match_never_both_succeed(world):
    # given
    patient = register_patient(world.api())
    url = f"/api/patients/{patient['id']}/"

    # when
    results = _race(
        [
            lambda name=name: world.api().patch(url, {"full_name": name}, {"If-Match": '"1"'})
            for name in ("Left Writer", "Right Writer")
        ]
    )

    # then
    statuses = _statuses(results)
    assert statuses in ([200, 409], [200, 412]), [r.content for r in results]
    loser = next(r for r in results if r.status_code != 200)
    assert loser.json()["error"]["code"] in ("version_conflict", "version_mismatch")
    winner = next(r for r in results if r.status_code == 200)
    stored = Patient.all_tenants.get(id=patient["id"])
    assert (stored.version, stored.full_name) == (2, winner.json()["full_name"])
    assert Event.objects.filter(stream_id=patient["id"]).count() == 2


def test_concurrent_patches_without_if_match_each_win_a_distinct_version(world):
    # given
    writers = 6
    patient = register_patient(world.api())
    url = f"/api/patients/{patient['id']}/"

    # when
    results = _race(
        [lambda i=i: world.api().patch(url, {"full_name": f"Writer {i}"}) for i in range(writers)]
    )

    # then: a loser is 409, never a silently lost update
    statuses = _statuses(results)
    assert set(statuses) <= {200, 409}, [r.content for r in results]
    winners = [r.json()["version"] for r in results if r.status_code == 200]
    assert len(winners) == len(set(winners))
    versions = list(
        Event.objects.filter(stream_id=patient["id"])
        .order_by("stream_version")
        .values_list("stream_version", flat=True)
    )
    assert versions == list(range(1, len(winners) + 2))
    assert Patient.all_tenants.get(id=patient["id"]).version == len(winners) + 1
    assert verify_chain(world.tenant.id).ok
