"""FHIR Appointment, Coverage, Claim and Consent: the types of the scheduling, billing and
patients branches, served like every registered type (read, vread, history, search,
`$everything`, the capability statement), valid R4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hm_core.fhir.validation import validate
from hm_core.scheduling import services as scheduling
from tests.billing.conftest import (
    adjudicate_body,
    closed_visit,
    make_coverage,
    make_payer,
    seed_catalog,
)
from tests.fhir.conftest import FHIR
from tests.scheduling.conftest import book, make_patient, make_schedule


def _next_monday_at(hour: int, minute: int = 0) -> datetime:
    today = datetime.now(tz=UTC).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime(monday.year, monday.month, monday.day, hour, minute, tzinfo=UTC)


def _ok(response):
    assert response.status_code == 200, response.content
    return validate(response.json())


def _ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_capability_statement_lists_the_wired_types_and_their_search_parameters(world):
    # when
    body = _ok(world.api().get(f"{FHIR}/metadata"))
    # then
    resources = {r["type"]: r for r in body["rest"][0]["resource"]}
    expected = {
        "Appointment": {"patient", "status", "date"},
        "Coverage": {"patient", "status"},
        "Claim": {"patient", "status"},
        "Consent": {"patient", "status"},
    }
    for kind, names in expected.items():
        assert {p["name"] for p in resources[kind]["searchParam"]} >= names, kind
        assert {i["code"] for i in resources[kind]["interaction"]} >= {"read", "vread"}


def test_appointment_versions_follow_its_stream_and_search_by_patient_status_date(world):
    # given: booked at 09:00, then moved to 10:00
    make_schedule(world)
    make_schedule(world, practitioner="nurse")
    patient, other = make_patient(world), make_patient(world, name="Grace")
    first = _next_monday_at(9)
    booked = book(world, patient, first)
    book(world, other, first, practitioner="nurse")
    moved = scheduling.appointment_reschedule(
        scope=world.scope("receptionist"),
        appointment_id=booked.id,
        start=_next_monday_at(10),
        end=None,
    )
    api = world.api()
    # when
    current = _ok(api.get(f"{FHIR}/Appointment/{booked.id}"))
    earlier = _ok(api.get(f"{FHIR}/Appointment/{booked.id}/_history/1"))
    history = _ok(api.get(f"{FHIR}/Appointment/{booked.id}/_history"))
    # then
    assert current["meta"]["versionId"] == str(moved.version) == "2"
    assert current["status"] == "booked"
    assert datetime.fromisoformat(current["start"]) == _next_monday_at(10)
    assert datetime.fromisoformat(earlier["start"]) == first
    assert earlier["description"] == "Follow-up"
    assert current["participant"][0]["actor"]["reference"] == f"Patient/{patient.id}"
    assert current["participant"][1]["actor"]["identifier"]["value"] == str(
        world.users["doctor"].id
    )
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    # search: patient, status, date (the start)
    mine = _ok(api.get(f"{FHIR}/Appointment", {"patient": f"Patient/{patient.id}"}))
    assert _ids(mine) == [str(booked.id)]
    day = _next_monday_at(0).date().isoformat()
    assert len(_ids(_ok(api.get(f"{FHIR}/Appointment", {"date": day})))) == 2
    late = _ok(api.get(f"{FHIR}/Appointment", {"date": f"ge{_next_monday_at(9, 30).isoformat()}"}))
    assert _ids(late) == [str(booked.id)]
    assert _ids(_ok(api.get(f"{FHIR}/Appointment", {"status": "cancelled"}))) == []
    # cancelled: a third version, searchable by its status
    scheduling.appointment_cancel(
        scope=world.scope("receptionist"), appointment_id=booked.id, reason="Patient asked"
    )
    cancelled = _ok(api.get(f"{FHIR}/Appointment", {"status": "cancelled"}))
    assert _ids(cancelled) == [str(booked.id)]
    resource = cancelled["entry"][0]["resource"]
    assert resource["meta"]["versionId"] == "3"
    assert resource["cancelationReason"]["text"] == "Patient asked"
    third = _ok(api.get(f"{FHIR}/Appointment/{booked.id}/_history/3"))
    assert third["status"] == "cancelled"
    # $everything of the patient carries it; another facility does not see it
    everything = _ok(api.get(f"{FHIR}/Patient/{patient.id}/$everything"))
    assert str(booked.id) in _ids(everything)
    annex = world.api(facility=world.annex)
    assert annex.get(f"{FHIR}/Appointment/{booked.id}").status_code == 404


def test_coverage_serves_the_decrypted_member_id_and_claims_their_lines_and_diagnoses(world):
    # given: a closed visit (CONSULT 50.00, CBC 18.00), a coverage, a claim submitted and
    # adjudicated
    seed_catalog(world)
    visit = closed_visit(world, "CBC")
    payer = make_payer(world)
    coverage = make_coverage(world, visit.patient_id, payer["id"], member_id="MBR-7781")
    clerk = world.api("billing_clerk")
    r = clerk.post("/api/billing/claims/", {"encounter": str(visit.id), "coverage": coverage["id"]})
    assert r.status_code == 201, r.content
    claim = r.json()
    assert clerk.post(f"/api/billing/claims/{claim['id']}/submit/").status_code == 200
    r = clerk.post(
        f"/api/billing/claims/{claim['id']}/adjudicate/", adjudicate_body("50.00", "18.00")
    )
    assert r.status_code == 200, r.content
    api = world.api()
    # when
    found = _ok(api.get(f"{FHIR}/Coverage/{coverage['id']}"))
    served = _ok(api.get(f"{FHIR}/Claim/{claim['id']}"))
    draft = _ok(api.get(f"{FHIR}/Claim/{claim['id']}/_history/1"))
    history = _ok(api.get(f"{FHIR}/Claim/{claim['id']}/_history"))
    # then: the coverage
    assert found["identifier"] == [{"system": "urn:hm-core:member-id", "value": "MBR-7781"}]
    assert found["beneficiary"]["reference"] == f"Patient/{visit.patient_id}"
    assert found["payor"][0]["identifier"]["value"] == payer["payer_code"]
    assert found["relationship"]["coding"][0]["code"] == "self"
    assert found["meta"]["versionId"] == "1"
    # the claim: its lines, diagnoses, total, the coverage; versions from its stream
    assert served["status"] == "active"
    assert served["meta"]["versionId"] == "3"
    assert served["patient"]["reference"] == f"Patient/{visit.patient_id}"
    assert served["insurance"][0]["coverage"]["reference"] == f"Coverage/{coverage['id']}"
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in served["diagnosis"]] == [
        "J45.909",
        "I10",
    ]
    lines = {i["productOrService"]["coding"][0]["code"]: i["net"] for i in served["item"]}
    assert lines == {
        "CONSULT": {"value": 50.0, "currency": "USD"},
        "CBC": {"value": 18.0, "currency": "USD"},
    }
    assert served["total"] == {"value": 68.0, "currency": "USD"}
    assert served["item"][0]["encounter"] == [{"reference": f"Encounter/{visit.id}"}]
    assert draft["status"] == "draft"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3", "2", "1"]
    assert [e["resource"]["status"] for e in history["entry"]] == ["active", "active", "draft"]
    # search by patient and status
    by_patient = {"patient": str(visit.patient_id)}
    assert _ids(_ok(api.get(f"{FHIR}/Coverage", by_patient))) == [coverage["id"]]
    assert _ids(_ok(api.get(f"{FHIR}/Coverage", {"status": "cancelled"}))) == []
    assert _ids(_ok(api.get(f"{FHIR}/Claim", {**by_patient, "status": "active"}))) == [claim["id"]]
    assert _ids(_ok(api.get(f"{FHIR}/Claim", {"status": "draft"}))) == []
    # $everything carries both
    everything = _ids(_ok(api.get(f"{FHIR}/Patient/{visit.patient_id}/$everything")))
    assert {coverage["id"], claim["id"]} <= set(everything)
    # a reader without the permissions gets 403
    assert world.api("nurse").get(f"{FHIR}/Claim/{claim['id']}").status_code == 403


def test_consent_is_served_with_its_decision_period_and_status(world):
    # given: a data-sharing denial in force and a research permit that has lapsed
    patient = make_patient(world)
    api = world.api()
    url = f"/api/patients/{patient.id}/consents/"
    r = api.post(url, {"category": "data_sharing", "decision": "deny"})
    assert r.status_code == 201, r.content
    deny = r.json()
    r = api.post(
        url,
        {
            "category": "research",
            "decision": "permit",
            "valid_from": "2020-01-01T00:00:00Z",
            "valid_to": "2021-01-01T00:00:00Z",
        },
    )
    assert r.status_code == 201, r.content
    lapsed = r.json()
    # when
    found = _ok(api.get(f"{FHIR}/Consent/{deny['id']}"))
    active = _ok(api.get(f"{FHIR}/Consent", {"patient": str(patient.id), "status": "active"}))
    inactive = _ok(api.get(f"{FHIR}/Consent", {"status": "inactive"}))
    # then
    assert found["status"] == "active"
    assert found["provision"]["type"] == "deny"
    assert found["scope"]["coding"][0]["code"] == "patient-privacy"
    assert found["patient"]["reference"] == f"Patient/{patient.id}"
    assert found["meta"]["versionId"] == "1"
    assert _ok(api.get(f"{FHIR}/Consent/{deny['id']}/_history/1"))["id"] == deny["id"]
    assert _ids(active) == [deny["id"]]
    assert _ids(inactive) == [lapsed["id"]]
    everything = _ids(_ok(api.get(f"{FHIR}/Patient/{patient.id}/$everything")))
    assert {deny["id"], lapsed["id"]} <= set(everything)
