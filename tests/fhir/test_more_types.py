"""FHIR ServiceRequest, DocumentReference and Task."""

from __future__ import annotations

from hm_core.fhir.validation import validate
from tests.encounters.conftest import make_encounter
from tests.fhir.conftest import FHIR, released_k_result
from tests.lab.conftest import place_order


def _ok(response):
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body)
    return body


def test_order_items_are_service_requests(lab_world):
    # given
    encounter = make_encounter(lab_world, "IN_CONSULT")
    order = place_order(lab_world.api("doctor"), encounter, "K", "CRP")
    api = lab_world.api()
    # when
    body = _ok(api.get(f"{FHIR}/ServiceRequest", {"encounter": str(encounter.id)}))
    by_code = {e["resource"]["code"]["coding"][-1]["code"]: e["resource"] for e in body["entry"]}
    # then
    assert set(by_code) == {"K", "CRP"}
    assert by_code["K"]["status"] == "active"
    assert by_code["K"]["intent"] == "order"
    assert by_code["K"]["subject"] == {"reference": f"Patient/{encounter.patient_id}"}
    placer = order["placer_order_number"]
    found = _ok(api.get(f"{FHIR}/ServiceRequest", {"identifier": placer}))
    assert found["total"] == 2
    assert _ok(api.get(f"{FHIR}/ServiceRequest", {"status": "revoked"}))["total"] == 0
    item = api.get(f"{FHIR}/ServiceRequest/{by_code['K']['id']}")
    assert item.status_code == 200
    assert item.json() == by_code["K"]


def test_documents_are_document_references_with_every_version(world):
    # given
    encounter = make_encounter(world, "CHECKED_IN")
    doctor = world.api("doctor")
    r = doctor.post(
        "/api/clinical-docs/",
        {"encounter": str(encounter.id), "doc_type": "progress_note", "payload": {"text": "v1"}},
    )
    assert r.status_code == 201, r.content
    doc = r.json()
    assert doctor.post(f"/api/clinical-docs/{doc['id']}/sign/").status_code == 200
    # when
    current = _ok(doctor.get(f"{FHIR}/DocumentReference/{doc['id']}"))
    first = _ok(doctor.get(f"{FHIR}/DocumentReference/{doc['id']}/_history/1"))
    search = _ok(doctor.get(f"{FHIR}/DocumentReference", {"patient": str(encounter.patient_id)}))
    # then
    assert current["meta"]["versionId"] == "2"
    assert current["docStatus"] == "final"
    assert first["docStatus"] == "preliminary"
    assert first["status"] == "superseded"
    assert [e["resource"]["id"] for e in search["entry"]] == [doc["id"]]
    assert _ok(doctor.get(f"{FHIR}/DocumentReference", {"type": "discharge"}))["total"] == 0


def test_tasks_are_fhir_tasks_with_history_from_their_stream(lab_world):
    # given: the lab workflow raises and completes tasks
    encounter, _ = released_k_result(lab_world)
    api = lab_world.api()
    # when
    body = _ok(api.get(f"{FHIR}/Task", {"patient": str(encounter.patient_id)}))
    # then
    assert body["total"] >= 1
    done = [e["resource"] for e in body["entry"] if e["resource"]["status"] == "completed"]
    assert done
    history = _ok(api.get(f"{FHIR}/Task/{done[0]['id']}/_history"))
    assert history["entry"][-1]["resource"]["status"] == "ready"
    assert history["entry"][0]["resource"]["status"] == "completed"
