"""FHIR test helpers: clinical state made through hm_core's services and API, never by rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import enter, item_of, place_order, receive, samples_of

FHIR = "/api/fhir"
K_HIGH = {"K": {"value": "5.9", "unit": "mmol/L"}}


@pytest.fixture
def lab_world(world: World) -> World:
    from hm_core.catalog.services import catalog_seed

    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    return world


def released_k_result(world: World) -> tuple[Any, dict[str, Any]]:
    """An encounter with vitals and a released potassium result (5.9 mmol/L, high)."""
    encounter = make_encounter(world, "IN_CONSULT")
    order = place_order(world.api("doctor"), encounter, "K")
    tech = world.api("lab_tech")
    (sample,) = samples_of(tech, order)
    receive(tech, sample)
    r = enter(tech, item_of(order, "K")["id"], K_HIGH)
    assert r.status_code == 201, r.content
    result = r.json()
    r = world.api("lab_tech2").post(
        f"/api/lab/results/{result['id']}/verify/", headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200, r.content
    r = tech.post(f"/api/lab/results/{result['id']}/release/", headers={"If-Match": '"2"'})
    assert r.status_code == 200, r.content
    return encounter, r.json()
