"""Real races on PostgreSQL: one barcode given to two tubes at once, one item resulted twice at
once, one result verified twice at once. The database decides; the loser gets a clean 409."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from hm_core.catalog.services import catalog_seed
from hm_core.events.chain import verify_chain
from hm_core.lab.models import LabResult, LabResultVersion, Sample
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import (
    K_NORMAL,
    enter,
    item_of,
    place_order,
    receive,
    received_now,
    samples_of,
)

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


def _codes(results) -> list[tuple[int, str]]:
    assert all(not isinstance(r, Exception) for r in results), results
    return sorted(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "") for r in results
    )


@pytest.fixture
def lab(world):
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    return world


def test_one_barcode_given_to_two_tubes_at_once_names_one(lab):
    # given two pending samples
    doctor, tech = lab.api("doctor"), lab.api("lab_tech")
    encounter = make_encounter(lab, "CHECKED_IN")
    order = place_order(doctor, encounter, "K", "CBC")
    samples = samples_of(tech, order)
    body = {"barcode": "RACE-1", "received_at": received_now()}

    # when both are received under one barcode at once
    results = _race(
        [lambda s=s: tech.post(f"/api/lab/samples/{s['id']}/receive/", body) for s in samples]
    )

    # then one wins; the other is a clean 409 and nothing of it was written
    assert _codes(results) == [(200, ""), (409, "duplicate_barcode")]
    assert Sample.all_tenants.filter(barcode="RACE-1").count() == 1
    assert sorted(Sample.all_tenants.values_list("status", flat=True)) == ["PENDING", "RECEIVED"]
    assert verify_chain(lab.tenant.id).ok


def test_one_item_resulted_twice_at_once_has_one_result(lab):
    doctor, tech, tech2 = lab.api("doctor"), lab.api("lab_tech"), lab.api("lab_tech2")
    encounter = make_encounter(lab, "CHECKED_IN")
    order = place_order(doctor, encounter, "K")
    receive(tech, samples_of(tech, order)[0])
    item_id = item_of(order, "K")["id"]

    results = _race([lambda api=api: enter(api, item_id, K_NORMAL) for api in (tech, tech2)])

    assert _codes(results) == [(201, ""), (409, "invalid_transition")]
    assert LabResult.all_tenants.count() == LabResultVersion.all_tenants.count() == 1
    assert verify_chain(lab.tenant.id).ok


def test_one_result_verified_twice_at_once_is_verified_once(lab):
    doctor, tech = lab.api("doctor"), lab.api("lab_tech")
    encounter = make_encounter(lab, "CHECKED_IN")
    order = place_order(doctor, encounter, "K")
    receive(tech, samples_of(tech, order)[0])
    result = enter(tech, item_of(order, "K")["id"], K_NORMAL).json()
    verifiers = (lab.api("lab_tech2"), lab.api("admin"))

    results = _race(
        [lambda api=api: api.post(f"/api/lab/results/{result['id']}/verify/") for api in verifiers]
    )

    codes = _codes(results)
    assert codes[0] == (200, "") and codes[1][0] == 409, codes
    assert LabResult.all_tenants.get().version == 2
