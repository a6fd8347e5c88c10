"""Real concurrency on PostgreSQL: many clerks book one slot at the same moment."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from hm_core.events.chain import verify_chain
from hm_core.events.models import Event
from hm_core.scheduling.errors import PatientDoubleBooked, SlotUnavailable
from hm_core.scheduling.models import Appointment
from tests.conftest import Api
from tests.scheduling.conftest import MONDAY, at, book, book_body_of, make_patient, make_schedule

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

WRITERS = 8


def _race(targets: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(targets))
    results: list[object] = []
    lock = threading.Lock()

    def run(target: Callable[[], object]) -> None:
        try:
            barrier.wait()
            outcome: object = target()
        except Exception as exc:  # collected and asserted on by the test
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_bookings_of_one_slot_exactly_one_wins(world):
    # given one slot and WRITERS different patients
    make_schedule(world)
    patients = [make_patient(world, name=f"P{i}") for i in range(WRITERS)]

    # when all book it at once through the service
    results = _race([lambda p=p: book(world, p, at(MONDAY, "09:00")) for p in patients])

    # then one booking, the rest 409 slot_unavailable, one event, a sound chain
    wins = [r for r in results if isinstance(r, Appointment)]
    losers = [r for r in results if isinstance(r, SlotUnavailable)]
    assert len(wins) == 1 and len(losers) == WRITERS - 1, results
    assert Appointment.all_tenants.filter(status="BOOKED").count() == 1
    assert Event.objects.filter(tenant_id=world.tenant.id, type="appointment.booked").count() == 1
    assert verify_chain(world.tenant.id).ok


def test_concurrent_http_bookings_of_one_slot_answer_one_201(world):
    make_schedule(world)
    patients = [make_patient(world, name=f"P{i}") for i in range(WRITERS)]
    start = at(MONDAY, "10:00")

    def post(patient) -> int:
        api = Api(world.users["receptionist"], world.tenant.id, world.main.id)
        return api.post("/api/appointments/", book_body_of(world, patient, start)).status_code

    results = _race([lambda p=p: post(p) for p in patients])

    assert Counter(results) == {201: 1, 409: WRITERS - 1}, results


def test_one_patient_booked_with_two_practitioners_at_once_wins_once(world):
    make_schedule(world)
    make_schedule(world, practitioner="nurse")
    patient = make_patient(world)
    results = _race(
        [
            lambda who=who: book(world, patient, at(MONDAY, "11:00"), practitioner=who)
            for who in ("doctor", "nurse") * 3
        ]
    )
    wins = [r for r in results if isinstance(r, Appointment)]
    assert len(wins) == 1, results
    assert all(
        isinstance(r, PatientDoubleBooked | SlotUnavailable) for r in results if r not in wins
    ), results


def test_the_database_refuses_overlaps_the_service_did_not_check(world, monkeypatch):
    # given bookings, and later ones whose overlap check is skipped (as in a lost race)
    make_schedule(world)
    make_schedule(world, practitioner="nurse")
    patient = make_patient(world)
    book(world, patient, at(MONDAY, "09:00"))
    monkeypatch.setattr("hm_core.scheduling.services._check_free", lambda *a, **k: None)

    # then the exclusion constraints still refuse them, mapped to the contract's 409s
    with pytest.raises(SlotUnavailable):
        book(world, make_patient(world, name="Late"), at(MONDAY, "09:00"))
    with pytest.raises(PatientDoubleBooked):
        book(world, patient, at(MONDAY, "09:00"), practitioner="nurse")
    assert Appointment.all_tenants.filter(status="BOOKED").count() == 1


def test_a_lost_race_under_an_idempotency_key_answers_409_and_replays_it(world, monkeypatch):
    # given a booked slot, and a later booking whose overlap check is skipped (a lost race), sent
    # with an Idempotency-Key: the command runs inside the key's transaction
    make_schedule(world)
    book(world, make_patient(world), at(MONDAY, "09:00"))
    monkeypatch.setattr("hm_core.scheduling.services._check_free", lambda *a, **k: None)
    api = world.api("receptionist")
    body = book_body_of(world, make_patient(world, name="Late"), at(MONDAY, "09:00"))
    key = {"Idempotency-Key": "late-booking-1"}

    # when it is sent, then retried with the same key
    first = api.post("/api/appointments/", body, headers=key)
    retry = api.post("/api/appointments/", body, headers=key)

    # then the constraint's refusal is the contract's 409 (not a 500 from an aborted
    # transaction), the key replays it, and nothing was written
    assert first.status_code == 409, first.json()
    assert first.json()["error"]["code"] == "slot_unavailable"
    assert (retry.status_code, retry.json()) == (409, first.json())
    assert Appointment.all_tenants.filter(status="BOOKED").count() == 1
    assert Event.objects.filter(tenant_id=world.tenant.id, type="appointment.booked").count() == 1
    assert verify_chain(world.tenant.id).ok
