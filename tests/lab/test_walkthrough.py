"""The contract's laboratory walk-through, end to end over HTTP: order CBC + CRP, collect and
receive the two samples, enter, verify and release both results — with the tasks the workflow
opens and closes, and the order items' progress, at every step."""

from __future__ import annotations

import pytest

from hm_core.events.models import Event
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import enter, item_of, lab_tasks, normal_payload, place_order, received_now


@pytest.fixture
def doctor(lab_world):
    return lab_world.api("doctor")


@pytest.fixture
def tech(lab_world):
    return lab_world.api("lab_tech")


@pytest.fixture
def tech2(lab_world):
    return lab_world.api("lab_tech2")


def item_statuses(api, order_id) -> dict[str, str]:
    r = api.get(f"/api/orders/{order_id}/")
    assert r.status_code == 200, r.json()
    return {i["service_code"]: i["status"] for i in r.json()["items"]}


def test_lab_walk_through(lab_world, doctor, tech, tech2):
    world = lab_world
    enc = make_encounter(world, "IN_CONSULT")

    # when the doctor orders a CBC and a CRP
    order = place_order(doctor, enc, "CBC", "CRP")
    cbc, crp = item_of(order, "CBC"), item_of(order, "CRP")

    # then two samples are expected — whole blood for the CBC, serum for the CRP — each with a
    # collection task in the phlebotomy queue
    r = tech.get("/api/lab/samples/", {"order": order["id"]})
    assert r.status_code == 200 and r.json()["count"] == 2
    blood, serum = r.json()["items"]
    assert (blood["specimen_type"], blood["service_codes"], blood["status"]) == (
        "whole_blood",
        ["CBC"],
        "PENDING",
    )
    assert (serum["specimen_type"], serum["service_codes"], serum["status"]) == (
        "serum",
        ["CRP"],
        "PENDING",
    )
    assert blood["item_ids"] == [cbc["id"]] and serum["item_ids"] == [crp["id"]]
    assert blood["encounter_id"] == serum["encounter_id"] == str(enc.id)
    assert lab_tasks(tech, enc.id) == [
        ("collect_sample", "phlebotomy", "OPEN", blood["id"]),
        ("collect_sample", "phlebotomy", "OPEN", serum["id"]),
    ]
    assert item_statuses(doctor, order["id"]) == {"CBC": "ORDERED", "CRP": "ORDERED"}

    # when the lab receives each sample under its barcode
    for sample, barcode in ((blood, "LAB-0001"), (serum, "LAB-0002")):
        r = tech.post(
            f"/api/lab/samples/{sample['id']}/receive/",
            {"barcode": barcode, "received_at": received_now()},
            headers={"If-Match": '"1"'},
        )
        assert r.status_code == 200, r.json()
        assert (r.json()["status"], r.json()["barcode"], r["ETag"]) == ("RECEIVED", barcode, '"2"')
        assert r.json()["received_by"] == "lab_tech@acme"

    # then collection is done and results are to be entered, per sample
    assert lab_tasks(tech, enc.id) == [
        ("collect_sample", "phlebotomy", "DONE", blood["id"]),
        ("collect_sample", "phlebotomy", "DONE", serum["id"]),
        ("enter_result", "lab", "OPEN", blood["id"]),
        ("enter_result", "lab", "OPEN", serum["id"]),
    ]
    assert item_statuses(doctor, order["id"]) == {"CBC": "COLLECTED", "CRP": "COLLECTED"}

    # when the results of both items are entered
    r = enter(tech, cbc["id"], normal_payload(world, "CBC"))
    assert r.status_code == 201, r.json()
    cbc_result = r.json()
    assert (cbc_result["status"], cbc_result["version"], cbc_result["versions"]) == (
        "ENTERED",
        1,
        1,
    )
    assert [v["code"] for v in cbc_result["values"]] == ["HB", "WBC", "PLT", "HCT"]
    assert {v["flag"] for v in cbc_result["values"]} == {""}
    assert cbc_result["is_critical"] is False and cbc_result["sample_id"] == blood["id"]
    r = enter(tech, crp["id"], {"analytes": [{"code": "CRP", "value": 12, "unit": "mg/L"}]})
    assert r.status_code == 201, r.json()
    crp_result = r.json()
    assert crp_result["values"] == [
        {"code": "CRP", "value": "12", "unit": "mg/L", "flag": "H", "reference_range": "0-5"}
    ]

    # then each sample's entry task is done and each result waits for verification
    assert lab_tasks(tech, enc.id)[2:] == [
        ("enter_result", "lab", "DONE", blood["id"]),
        ("enter_result", "lab", "DONE", serum["id"]),
        ("verify_result", "lab", "OPEN", cbc_result["id"]),
        ("verify_result", "lab", "OPEN", crp_result["id"]),
    ]
    assert item_statuses(doctor, order["id"]) == {"CBC": "RESULTED", "CRP": "RESULTED"}
    assert doctor.get(f"/api/orders/{order['id']}/").json()["status"] == "COMPLETED"

    # when a second technologist verifies both and the first releases them
    for result in (cbc_result, crp_result):
        r = tech2.post(f"/api/lab/results/{result['id']}/verify/", headers={"If-Match": '"1"'})
        assert r.status_code == 200, r.json()
        assert (r.json()["status"], r.json()["verified_by"], r["ETag"]) == (
            "VERIFIED",
            "lab_tech2@acme",
            '"2"',
        )
    assert [t[2] for t in lab_tasks(tech, enc.id)] == ["DONE"] * 6
    for result in (cbc_result, crp_result):
        r = tech.post(f"/api/lab/results/{result['id']}/release/", headers={"If-Match": '"2"'})
        assert r.status_code == 200, r.json()
        assert (r.json()["status"], r.json()["version"], r.json()["versions"]) == (
            "RELEASED",
            3,
            1,
        )

    # then the doctor reads the released results, nothing is critical, nothing is left to do
    r = doctor.get("/api/lab/results/", {"encounter": str(enc.id)})
    assert r.status_code == 200 and r.json()["count"] == 2
    assert [(x["service_code"], x["status"]) for x in r.json()["items"]] == [
        ("CBC", "RELEASED"),
        ("CRP", "RELEASED"),
    ]
    assert doctor.get("/api/alerts/", {"encounter": str(enc.id)}).json()["count"] == 0
    assert [t[2] for t in lab_tasks(tech, enc.id)] == ["DONE"] * 6
    assert Event.objects.filter(stream_id=cbc_result["id"]).count() == 3

    # and every lab step is on the encounter's timeline
    timeline = doctor.get(f"/api/encounters/{enc.id}/timeline/", {"limit": 200}).json()["items"]
    lab_types = [i["type"] for i in timeline if i["type"].startswith("lab.")]
    assert lab_types == [
        "lab.sample_created",
        "lab.sample_created",
        "lab.sample_received",
        "lab.sample_received",
        "lab.result_entered",
        "lab.result_entered",
        "lab.result_verified",
        "lab.result_verified",
        "lab.result_released",
        "lab.result_released",
    ]
