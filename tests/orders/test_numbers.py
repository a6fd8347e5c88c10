"""Placer order numbers and accession numbers (contract §11): given or generated, unique per
tenant, shown in the API; stored v1 `order.placed` payloads still load."""

from __future__ import annotations

import uuid

from hm_core.orders.events import OrderPlaced
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import error_of


def _place(api, enc, *codes, order_type="LAB", **extra):
    body = {
        "encounter": str(enc.id),
        "order_type": order_type,
        "items": [{"service_code": c} for c in codes],
        **extra,
    }
    return api.post("/api/orders/", body)


def test_placer_number_is_generated_given_and_unique_per_tenant(lab_world):
    doctor = lab_world.api("doctor")
    enc = make_encounter(lab_world, "CHECKED_IN")
    generated = _place(doctor, enc, "K").json()["placer_order_number"]
    assert generated.startswith("HM") and len(generated) == 12
    r = _place(doctor, enc, "NA", placer_order_number="LIS-42")
    assert r.status_code == 201 and r.json()["placer_order_number"] == "LIS-42"
    # the same number again, even from the other facility, is 409
    annex = make_encounter(lab_world, "CHECKED_IN", facility=lab_world.annex)
    r = _place(lab_world.api("doctor", lab_world.annex), annex, "K", placer_order_number="LIS-42")
    assert r.status_code == 409 and error_of(r)["code"] == "duplicate_placer_order_number"
    r = _place(doctor, enc, "K", placer_order_number="X" * 23)
    assert r.status_code == 422
    r = _place(doctor, enc, "K", placer_order_number="A|B")
    assert r.status_code == 422


def test_imaging_items_get_accession_numbers(lab_world):
    enc = make_encounter(lab_world, "CHECKED_IN")
    r = _place(lab_world.api("doctor"), enc, "CXR", "CTHEAD", order_type="IMAGING")
    assert r.status_code == 201, r.json()
    numbers = [item["accession_number"] for item in r.json()["items"]]
    assert all(n.startswith("A") and len(n) == 13 for n in numbers) and len(set(numbers)) == 2
    lab = _place(lab_world.api("doctor"), enc, "K").json()
    assert lab["items"][0]["accession_number"] == ""


def test_a_stored_v1_order_placed_payload_is_upcast():
    payload = {
        "order_id": str(uuid.uuid4()),
        "encounter_id": str(uuid.uuid4()),
        "patient_id": str(uuid.uuid4()),
        "order_type": "LAB",
        "priority": "ROUTINE",
        "items": [
            {
                "item_id": str(uuid.uuid4()),
                "service_code": "K",
                "name": "Potassium",
                "price": "5.00",
                "currency": "USD",
            }
        ],
    }
    event = OrderPlaced.from_payload(payload, version=1)
    assert isinstance(event, OrderPlaced)
    assert event.placer_order_number == "" and event.items[0].accession_number == ""
