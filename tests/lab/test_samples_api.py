"""Samples over HTTP (contract §7): created by LAB orders, received under a facility-unique
barcode, rejected (→ recollection, task and warning), cancelled with their order."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from hm_core.common.time import utcnow
from hm_core.events.models import Event
from hm_core.lab.models import Sample
from tests.encounters.conftest import event_count, make_encounter
from tests.lab.conftest import (
    K_NORMAL,
    enter,
    error_of,
    item_of,
    lab_tasks,
    place_order,
    receive,
    received_now,
    samples_of,
)


@pytest.fixture
def doctor(lab_world):
    return lab_world.api("doctor")


@pytest.fixture
def tech(lab_world):
    return lab_world.api("lab_tech")


@pytest.fixture
def encounter(lab_world):
    return make_encounter(lab_world, "CHECKED_IN")


def receive_url(sample) -> str:
    return f"/api/lab/samples/{sample['id']}/receive/"


def reject_url(sample) -> str:
    return f"/api/lab/samples/{sample['id']}/reject/"


def test_a_lab_order_expects_one_sample_per_specimen_type(lab_world, doctor, tech, encounter):
    # when
    order = place_order(doctor, encounter, "K", "CBC", "NA", "HB", "INR")

    # then
    samples = samples_of(tech, order)
    assert [(s["specimen_type"], s["service_codes"]) for s in samples] == [
        ("serum", ["K", "NA"]),
        ("whole_blood", ["CBC", "HB"]),
        ("citrate_plasma", ["INR"]),
    ]
    for sample in samples:
        (created,) = Event.objects.filter(stream_id=sample["id"])
        assert (created.type, created.stream_type, created.actor_username) == (
            "lab.sample_created",
            "sample",
            "system",
        )
        placed = Event.objects.get(stream_id=order["id"], type="order.placed")
        assert created.causation_id == placed.id
        assert created.payload["encounter_id"] == str(encounter.id)
        assert created.payload["patient_id"] == str(encounter.patient_id)
    r = tech.get(f"/api/lab/samples/{samples[0]['id']}/")
    assert r.status_code == 200 and r["ETag"] == '"1"' and r.json()["barcode"] == ""


def test_non_lab_orders_expect_no_sample(doctor, tech, encounter):
    order = place_order(doctor, encounter, "CXR", order_type="IMAGING")
    assert samples_of(tech, order) == []


def test_samples_list_filters_by_status_order_and_encounter(doctor, tech, encounter):
    first = place_order(doctor, encounter, "K")
    second = place_order(doctor, encounter, "CBC")
    receive(tech, samples_of(tech, first)[0])
    page = tech.get("/api/lab/samples/", {"status": "PENDING"}).json()
    assert [s["order_id"] for s in page["items"]] == [second["id"]] and page["count"] == 1
    page = tech.get("/api/lab/samples/", {"encounter": str(encounter.id), "limit": 1}).json()
    assert page["count"] == 2 and len(page["items"]) == 1
    assert tech.get("/api/lab/samples/", {"status": "LOST"}).status_code == 422


def test_a_barcode_names_one_sample_per_facility(lab_world, doctor, tech, encounter):
    # given one sample received as DUP-1 and another pending
    first = samples_of(tech, place_order(doctor, encounter, "K"))[0]
    second = samples_of(tech, place_order(doctor, encounter, "CBC"))[0]
    receive(tech, first, barcode="DUP-1")
    before = event_count(lab_world)

    # when the second is received under the same barcode
    r = tech.post(receive_url(second), {"barcode": "DUP-1", "received_at": received_now()})

    # then 409 and nothing written
    assert r.status_code == 409
    assert error_of(r)["code"] == "duplicate_barcode"
    assert event_count(lab_world) == before
    assert tech.get(f"/api/lab/samples/{second['id']}/").json()["status"] == "PENDING"
    assert ("collect_sample", "phlebotomy", "OPEN", second["id"]) in lab_tasks(tech, encounter.id)


def test_the_same_barcode_may_name_a_tube_of_another_facility(lab_world, doctor, tech):
    main = samples_of(tech, place_order(doctor, make_encounter(lab_world, "CHECKED_IN"), "K"))[0]
    receive(tech, main, barcode="SHARED-1")
    annex = lab_world.api("admin", facility=lab_world.annex)
    annex_enc = make_encounter(lab_world, "CHECKED_IN", facility=lab_world.annex)
    (annex_sample,) = samples_of(annex, place_order(annex, annex_enc, "K"))
    assert receive(annex, annex_sample, barcode="SHARED-1")["status"] == "RECEIVED"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"barcode": "BC-1", "received_at": "2030-01-07T09:30:00"}, "received_at"),
        ({"barcode": "BC-1", "received_at": "not a time"}, "received_at"),
        ({"barcode": "", "received_at": "2020-01-07T09:30:00Z"}, "barcode"),
        ({"barcode": "BC 1", "received_at": "2020-01-07T09:30:00Z"}, "barcode"),
        ({"barcode": "BC-1"}, "received_at"),
        ({"barcode": "BC-1", "received_at": "2020-01-07T09:30:00Z", "by": "x"}, "by"),
    ],
)
def test_receipt_needs_a_barcode_and_an_aware_time(lab_world, doctor, tech, encounter, body, field):
    sample = samples_of(tech, place_order(doctor, encounter, "K"))[0]
    before = event_count(lab_world)
    r = tech.post(receive_url(sample), body)
    assert r.status_code == 422, r.json()
    assert field in [d["field"] for d in error_of(r)["details"]]
    assert event_count(lab_world) == before


def test_receipt_in_the_future_is_refused(lab_world, doctor, tech, encounter):
    sample = samples_of(tech, place_order(doctor, encounter, "K"))[0]
    before = event_count(lab_world)
    later = (utcnow() + timedelta(hours=1)).isoformat()
    r = tech.post(receive_url(sample), {"barcode": "BC-1", "received_at": later})
    assert r.status_code == 422
    assert error_of(r)["details"] == [
        {"field": "received_at", "message": "must not be in the future"}
    ]
    assert event_count(lab_world) == before


def test_receipt_keeps_the_clinical_time_in_utc(doctor, tech, encounter):
    sample = samples_of(tech, place_order(doctor, encounter, "K"))[0]
    sent = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    local = sent.astimezone(timezone(timedelta(hours=5, minutes=30)))
    r = tech.post(receive_url(sample), {"barcode": "BC-T", "received_at": local.isoformat()})
    assert r.status_code == 200
    assert r.json()["received_at"] == sent.isoformat().replace("+00:00", "Z")


def test_illegal_sample_transitions_are_409_with_the_state(doctor, tech, encounter):
    sample = samples_of(tech, place_order(doctor, encounter, "K"))[0]
    receive(tech, sample, barcode="BC-X")
    r = tech.post(receive_url(sample), {"barcode": "BC-Y", "received_at": received_now()})
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["from"] == "RECEIVED"
    assert tech.post(reject_url(sample), {"reason": "clotted"}).status_code == 200
    r = tech.post(reject_url(sample), {"reason": "clotted"})
    assert r.status_code == 409 and error_of(r)["details"]["from"] == "REJECTED"


@pytest.mark.parametrize("action", ["receive", "reject"])
def test_sample_transitions_check_if_match(lab_world, doctor, tech, encounter, action):
    sample = samples_of(tech, place_order(doctor, encounter, "K"))[0]
    body = (
        {"barcode": "BC-M", "received_at": received_now()}
        if action == "receive"
        else {"reason": "haemolysed"}
    )
    before = event_count(lab_world)
    r = tech.post(f"/api/lab/samples/{sample['id']}/{action}/", body, headers={"If-Match": '"7"'})
    assert r.status_code == 412 and error_of(r)["code"] == "version_mismatch"
    assert event_count(lab_world) == before
    r = tech.post(f"/api/lab/samples/{sample['id']}/{action}/", body, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r["ETag"] == '"2"'


def test_a_rejected_sample_is_recollected_with_a_task_and_a_warning(
    lab_world, doctor, tech, encounter
):
    # given a received serum sample for K and NA
    order = place_order(doctor, encounter, "K", "NA")
    (sample,) = samples_of(tech, order)
    receive(tech, sample)

    # when the lab rejects it
    r = tech.post(reject_url(sample), {"reason": "Haemolysed"})

    # then it is REJECTED and a replacement sample for the same items is expected
    assert r.status_code == 200, r.json()
    assert (r.json()["status"], r.json()["reject_reason"]) == ("REJECTED", "Haemolysed")
    rejected, replacement = samples_of(tech, order)
    assert rejected["replaced_by_id"] == replacement["id"]
    assert replacement["replaces_sample_id"] == sample["id"]
    assert (replacement["status"], replacement["item_ids"], replacement["service_codes"]) == (
        "PENDING",
        sample["item_ids"],
        ["K", "NA"],
    )
    # the items wait for the new specimen
    items = doctor.get(f"/api/orders/{order['id']}/").json()["items"]
    assert {i["status"] for i in items} == {"ORDERED"}
    # the old sample's tasks are cancelled; the replacement has its own collection task
    assert lab_tasks(tech, encounter.id) == [
        ("collect_sample", "phlebotomy", "DONE", sample["id"]),
        ("enter_result", "lab", "CANCELLED", sample["id"]),
        ("collect_sample", "phlebotomy", "OPEN", replacement["id"]),
    ]
    r = tech.get("/api/tasks/", {"encounter": str(encounter.id), "queue": "phlebotomy"})
    assert r.json()["items"][-1]["title"] == "Recollect serum sample: K, NA"
    # and the care team is warned
    (alert,) = doctor.get("/api/alerts/", {"encounter": str(encounter.id)}).json()["items"]
    assert (alert["kind"], alert["severity"], alert["status"]) == (
        "sample_rejected",
        "warning",
        "OPEN",
    )
    assert (alert["source_type"], alert["source_id"]) == ("lab_sample", sample["id"])
    assert alert["message"] == "Sample rejected: Haemolysed"

    # when the recollection is received, results follow the usual path
    receive(tech, replacement)
    r = enter(tech, item_of(order, "K")["id"], K_NORMAL)
    assert r.status_code == 201 and r.json()["sample_id"] == replacement["id"]


def test_a_pending_sample_rejected_cancels_its_collection_task(doctor, tech, encounter):
    (sample,) = samples_of(tech, place_order(doctor, encounter, "K"))
    assert tech.post(reject_url(sample), {"reason": "Mislabelled"}).status_code == 200
    assert [t[:3] for t in lab_tasks(tech, encounter.id)] == [
        ("collect_sample", "phlebotomy", "CANCELLED"),
        ("collect_sample", "phlebotomy", "OPEN"),
    ]


def test_a_sample_with_an_entered_result_cannot_be_rejected(lab_world, doctor, tech, encounter):
    order = place_order(doctor, encounter, "K", "NA")
    (sample,) = samples_of(tech, order)
    receive(tech, sample)
    assert enter(tech, item_of(order, "K")["id"], K_NORMAL).status_code == 201
    before = event_count(lab_world)
    r = tech.post(reject_url(sample), {"reason": "late"})
    assert r.status_code == 409 and error_of(r)["details"]["has_results"] is True
    assert event_count(lab_world) == before


def test_a_cancelled_order_cancels_its_pending_samples_and_their_tasks(doctor, tech, encounter):
    # given a CBC + CRP order whose blood sample is received, its serum sample still pending
    order = place_order(doctor, encounter, "CBC", "CRP")
    blood, serum = samples_of(tech, order)
    receive(tech, blood)

    # when the order is cancelled
    r = doctor.post(f"/api/orders/{order['id']}/cancel/", {"reason": "Patient left"})
    assert r.status_code == 200, r.json()

    # then the pending sample is cancelled; the received one stays, with nothing left to enter
    blood, serum = samples_of(tech, order)
    assert (blood["status"], serum["status"]) == ("RECEIVED", "CANCELLED")
    assert serum["cancel_reason"] == "order cancelled: Patient left"
    assert lab_tasks(tech, encounter.id) == [
        ("collect_sample", "phlebotomy", "DONE", blood["id"]),
        ("collect_sample", "phlebotomy", "CANCELLED", serum["id"]),
        ("enter_result", "lab", "CANCELLED", blood["id"]),
    ]
    (cancelled,) = Event.objects.filter(stream_id=serum["id"], type="lab.sample_cancelled")
    assert cancelled.payload["encounter_id"] == str(encounter.id)


def test_a_partly_resulted_sample_finishes_its_entry_task_when_the_rest_is_cancelled(
    lab_world, doctor, tech, encounter
):
    # given a serum sample for K and NA, K resulted, NA still waiting
    order = place_order(doctor, encounter, "K", "NA")
    (sample,) = samples_of(tech, order)
    receive(tech, sample)
    assert enter(tech, item_of(order, "K")["id"], K_NORMAL).status_code == 201
    assert ("enter_result", "lab", "OPEN", sample["id"]) in lab_tasks(tech, encounter.id)

    # when the rest of the order is cancelled
    assert doctor.post(f"/api/orders/{order['id']}/cancel/").status_code == 200

    # then the entry task is done: every remaining item has its result
    assert ("enter_result", "lab", "DONE", sample["id"]) in lab_tasks(tech, encounter.id)
    assert Sample.all_tenants.get(id=sample["id"]).status == "RECEIVED"
