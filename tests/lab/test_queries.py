"""List endpoints answer in a constant number of queries, whatever the page holds (contract §1)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.common.scope import scope_active
from hm_core.common.time import utcnow
from hm_core.lab import services as lab
from hm_core.lab.selectors import SampleFilters, sample_list
from hm_core.orders import services as orders
from hm_core.orders.selectors import order_items
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import normal_payload

# Single-analyte services: 12 in serum, 3 in whole blood (two samples per order).
SINGLE = ("CRP", "GLU", "K", "NA", "CA", "MG", "CREA", "UREA", "TSH", "TROP", "LACT", "PCT")
SINGLE += ("HB", "ESR", "HBA1C")


def order_codes(world, encounter, codes) -> uuid.UUID:
    return orders.order_place(
        scope=world.scope("doctor"),
        encounter_id=encounter.id,
        order_type="LAB",
        priority="ROUTINE",
        service_codes=list(codes),
    ).id


def receive_all(world, order_id) -> None:
    scope = world.scope("lab_tech")
    with scope_active(scope):
        pending = list(sample_list(scope=scope, filters=SampleFilters("PENDING", order_id)))
    for sample in pending:
        lab.sample_receive(
            scope=scope,
            sample_id=sample.id,
            barcode=f"Q-{uuid.uuid4().hex[:12]}",
            received_at=utcnow() - timedelta(minutes=1),
        )


def enter_all(world, order_id, codes) -> None:
    scope = world.scope("lab_tech")
    with scope_active(scope):
        items = order_items(scope=scope, order_ids=[order_id])[order_id]
    for item in items:
        if item.service_code in codes:
            lab.lab_result_enter(
                scope=scope,
                order_item_id=item.id,
                result_payload=normal_payload(world, item.service_code),
                is_critical=False,
            )


def queries_of(api, path, params) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        r = api.get(path, {**params, "limit": 200})
    assert r.status_code == 200, r.json()
    return len(ctx.captured_queries), r.json()["count"]


def test_sample_list_queries_do_not_grow_with_its_size(lab_world):
    world, api = lab_world, lab_world.api("lab_tech")
    encounter = make_encounter(world, "CHECKED_IN")
    for _ in range(3):
        order_codes(world, encounter, ["K"])
    few, three = queries_of(api, "/api/lab/samples/", {"encounter": str(encounter.id)})
    for _ in range(27):
        order_codes(world, encounter, ["CBC"])
    many, thirty = queries_of(api, "/api/lab/samples/", {"encounter": str(encounter.id)})
    assert (three, thirty) == (3, 30)
    assert few == many


def test_result_list_queries_do_not_grow_with_its_size(lab_world):
    world, api = lab_world, lab_world.api("doctor")
    encounter = make_encounter(world, "CHECKED_IN")
    first = order_codes(world, encounter, SINGLE)
    receive_all(world, first)
    enter_all(world, first, SINGLE[:3])
    few, three = queries_of(api, "/api/lab/results/", {"encounter": str(encounter.id)})
    enter_all(world, first, SINGLE[3:])
    second = order_codes(world, encounter, SINGLE)
    receive_all(world, second)
    enter_all(world, second, SINGLE)
    many, thirty = queries_of(api, "/api/lab/results/", {"encounter": str(encounter.id)})
    assert (three, thirty) == (3, 30)
    assert few == many
