"""Imported lab reports and vital signs become hm_core's own lab results and vitals (issue 12
item 3); what hm_core has no model for stays kept as sent."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from typing import Any

from hm_core.events.models import Event
from hm_core.fhir.validation import validate
from tests.fhir.conftest import FHIR
from tests.fhir.test_transaction import bundle, events_of, post

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _kinds(source: dict[str, Any], code: str) -> int:
    return sum(
        1
        for e in source["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
        and e["resource"]["code"]["coding"][0]["code"] == code
    )


def _search(api, kind: str, **params: str) -> dict[str, Any]:
    response = api.get(f"{FHIR}/{kind}", {**params, "_count": "200"})
    assert response.status_code == 200, response.content
    return validate(response.json())


def test_synthea_blood_counts_become_lab_results_and_lipid_panels_stay_as_sent(lab_world):
    # given: weston_fay has complete blood counts (CBC in the catalog, units it uses or equal
    # ones: 10*3/uL is 10*9/L) and lipid panels in mg/dL (the catalog's are mmol/L)
    api, source = lab_world.api(), bundle("weston_fay.json")
    cbcs, lipids = _kinds(source, "58410-2"), _kinds(source, "57698-3")
    # when
    body = post(api, source).json()
    # then: one released result per blood count, 4 catalog analytes each; no task, no alert
    results = api.get("/api/lab/results/").json()
    assert results["count"] == cbcs == 2
    assert {(r["service_code"], r["status"]) for r in results["items"]} == {("CBC", "RELEASED")}
    assert api.get("/api/tasks/").json()["count"] == 0
    assert api.get("/api/alerts/").json()["count"] == 0
    # served back as the laboratory Observations and DiagnosticReports of the existing mapping
    lab = _search(api, "Observation", category="laboratory")
    assert lab["total"] == 4 * cbcs
    hb = next(e["resource"] for e in lab["entry"] if e["resource"]["id"].endswith("-HB"))
    assert {"system": LOINC, "code": "718-7"} in hb["code"]["coding"]
    assert hb["valueQuantity"]["unit"] == "g/dL" and hb["status"] == "final"
    assert hb["referenceRange"][0]["text"] == "12-17.5"
    wbc = _search(api, "Observation", code=f"{LOINC}|6690-2")["entry"][0]["resource"]
    assert wbc["valueQuantity"]["unit"] == "10*9/L"
    reports = _search(api, "DiagnosticReport", code=f"{LOINC}|58410-2")
    assert reports["total"] == cbcs
    assert {len(e["resource"]["result"]) for e in reports["entry"]} == {4}
    # the response names where each became: mapped entries at hm_core's resources
    located = Counter(
        (e["resource"]["resourceType"], r["response"]["location"].split("/")[1][:36])
        for e, r in zip(source["entry"], body["entry"], strict=True)
        if e["resource"]["resourceType"] in ("DiagnosticReport", "Observation")
    )
    ids = {r["id"] for r in results["items"]}
    assert sum(n for (_, rid), n in located.items() if rid in ids) == 4 * cbcs
    # the rest is kept as sent: lipid panels, their analytes, the CBC's other analytes
    every = _search(api, "DiagnosticReport")
    assert every["total"] == cbcs + lipids
    stored_obs = _search(api, "Observation", _lastUpdated="gt1900-01-01")["total"]
    observations = sum(1 for e in source["entry"] if e["resource"]["resourceType"] == "Observation")
    assert stored_obs == observations - 4 * cbcs


def test_reimporting_mapped_lab_results_changes_nothing(lab_world):
    # given
    api, source = lab_world.api(), bundle("lupe_little.json")
    first = post(api, source).json()
    written = events_of(lab_world)
    # when
    again = post(api, source).json()
    # then
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    assert events_of(lab_world) == written
    assert [e["response"]["location"].split("/_history")[0] for e in again["entry"]] == [
        e["response"]["location"].split("/_history")[0] for e in first["entry"]
    ]
    # lupe_little: a blood count and three lone HbA1c Observations (a one-analyte service)
    codes = Counter(r["service_code"] for r in api.get("/api/lab/results/").json()["items"])
    assert codes == {"CBC": 1, "HBA1C": 3}


def test_a_transaction_with_one_invalid_entry_records_no_lab_result(lab_world):
    # given
    api, source = lab_world.api(), copy.deepcopy(bundle("weston_fay.json"))
    source["entry"][-1]["resource"]["status"] = 17  # not a code
    before = events_of(lab_world)
    # when
    response = post(api, source)
    # then
    assert response.status_code == 422
    assert events_of(lab_world) == before
    assert api.get("/api/lab/results/").json()["count"] == 0


def _vital(patient: str, encounter: str, code: str, when: str, **value: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": patient},
            "encounter": {"reference": encounter},
            "effectiveDateTime": when,
            **value,
        },
        "request": {"method": "POST", "url": "Observation"},
    }


def _q(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def vitals_bundle() -> dict[str, Any]:
    """A patient, a finished visit, and one set of vitals taken in it (SpO2 88 %, pulse 131:
    NEWS2 would alert on a live encounter) plus a body weight."""
    patient, encounter, when = (
        f"urn:uuid:{uuid.uuid4()}",
        f"urn:uuid:{uuid.uuid4()}",
        "2019-03-04T10:15:00+00:00",
    )
    bp = {
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": _q(128.4, "mm[Hg]"),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": _q(81.6, "mm[Hg]"),
            },
        ]
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient,
                "resource": {"resourceType": "Patient", "identifier": [{"value": "VIT-1"}],
                             "name": [{"family": "Pulse", "given": ["Ivy"]}], "gender": "female",
                             "birthDate": "1961-02-03"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": encounter,
                "resource": {"resourceType": "Encounter", "status": "finished",
                             "class": {"code": "AMB"}, "identifier": [{"value": "V-VIT-1"}],
                             "subject": {"reference": patient},
                             "period": {"start": "2019-03-04T10:00:00+00:00", "end": "2019-03-04T11:00:00+00:00"}},
                "request": {"method": "POST", "url": "Encounter"},
            },
            _vital(patient, encounter, "85354-9", when, **bp),
            _vital(patient, encounter, "8867-4", when, valueQuantity=_q(131, "/min")),
            _vital(patient, encounter, "8310-5", when, valueQuantity=_q(37.2, "Cel")),
            _vital(patient, encounter, "2708-6", when, valueQuantity=_q(88, "%")),
            _vital(patient, encounter, "9279-1", when, valueQuantity=_q(18, "/min")),
            _vital(patient, encounter, "29463-7", when, valueQuantity=_q(71.3, "kg")),
        ],
    }  # fmt: skip


def test_a_complete_set_of_vital_signs_becomes_the_encounters_vitals(lab_world):
    # given
    api, source = lab_world.api(), vitals_bundle()
    # when
    body = post(api, source).json()
    written = events_of(lab_world)
    again = post(api, source).json()
    # then: one vitals record on the closed encounter, no task, no NEWS2 alert
    encounter = body["entry"][1]["response"]["location"].split("/")[1]
    record = Event.objects.get(tenant_id=lab_world.tenant.id, type="encounter.vitals_recorded")
    assert str(record.stream_id) == encounter
    assert record.occurred_at.isoformat() == "2019-03-04T10:15:00+00:00"
    assert (record.payload["blood_pressure_systolic"], record.payload["pulse"]) == (128, 131)
    assert api.get(f"/api/encounters/{encounter}/").json()["status"] == "CLOSED"
    assert api.get("/api/tasks/").json()["count"] == 0
    assert api.get("/api/alerts/").json()["count"] == 0
    # served back as the vital-signs profile's Observations
    vitals = _search(api, "Observation", category="vital-signs", encounter=f"Encounter/{encounter}")
    served = {e["resource"]["id"].rsplit("-", 1)[1]: e["resource"] for e in vitals["entry"]}
    assert set(served) == {"bp", "hr", "temp", "spo2", "rr"}
    assert served["bp"]["code"]["coding"][0]["code"] == "85354-9"
    assert served["spo2"]["valueQuantity"]["value"] == 88
    locations = {r["response"]["location"] for r in body["entry"][2:7]}
    assert locations == {f"Observation/{e['resource']['id']}" for e in vitals["entry"]}
    # the weight has no vitals field: kept as sent, readable by the patient's search
    weight = body["entry"][7]["response"]["location"].split("/_history")[0]
    assert api.get(f"{FHIR}/{weight}").json()["code"]["coding"][0]["code"] == "29463-7"
    # importing it again changes nothing
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    assert events_of(lab_world) == written


def test_synthea_vital_signs_without_pulse_and_spo2_stay_as_sent(lab_world):
    # given: Synthea 2.4 records blood pressure, weight, height, BMI and pain, never pulse or SpO2
    api, source = lab_world.api(), bundle("desmond_gutmann.json")
    # when
    post(api, source)
    # then: no vitals record; every vital sign readable as sent
    assert not Event.objects.filter(type="encounter.vitals_recorded").exists()
    assert _search(api, "Observation", category="vital-signs")["total"] == 0
    sent = sum(
        1
        for e in source["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["category"][0]["coding"][0]["code"] == "vital-signs"
    )
    stored = _search(api, "Observation", _lastUpdated="gt1900-01-01")["entry"]
    kept = [e for e in stored if e["resource"]["category"][0]["coding"][0]["code"] == "vital-signs"]
    assert len(kept) == sent


def test_vitals_of_another_patients_encounter_roll_the_whole_transaction_back(lab_world):
    # given: a valid bundle whose vitals name a second patient, not the encounter's
    api, source = lab_world.api(), vitals_bundle()
    other = copy.deepcopy(source["entry"][0])
    other["fullUrl"], other["resource"]["identifier"] = f"urn:uuid:{uuid.uuid4()}", [{"value": "X"}]
    source["entry"].insert(1, other)
    for entry in source["entry"][3:]:
        entry["resource"]["subject"] = {"reference": other["fullUrl"]}
    before = events_of(lab_world)
    # when
    response = post(api, source)
    # then: 422, and neither patient, nor the encounter, nor anything else was written
    assert response.status_code == 422, response.content[:500]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert events_of(lab_world) == before


def test_a_paged_search_counts_the_same_total_as_the_whole_result(lab_world):
    # given weston_fay's blood counts (4 analytes each) and lipid panels imported
    api = lab_world.api()
    post(api, bundle("weston_fay.json"))
    searches = [
        ("Observation", {"category": "laboratory"}),  # summed analytes, by the database
        ("Observation", {"code": f"{LOINC}|6690-2"}),  # matched per analyte, in batches
        ("DiagnosticReport", {}),
        ("DiagnosticReport", {"code": f"{LOINC}|58410-2"}),
    ]
    for kind, params in searches:
        # when the first page holds one resource
        paged = api.get(f"{FHIR}/{kind}", {**params, "_count": "1"})
        assert paged.status_code == 200, paged.content
        # then its total is the number of resources the whole search returns
        whole = [e for e in _search(api, kind, **params)["entry"] if e["search"]["mode"] == "match"]
        assert len(whole) > 1, (kind, params)
        assert paged.json()["total"] == len(whole), (kind, params)
