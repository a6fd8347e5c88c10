"""Search by `code` over resources kept as sent (issue 12 item 6, performance finding 4)."""

from __future__ import annotations

import copy
from typing import Any

from hm_core.fhir.validation import validate
from tests.fhir.conftest import FHIR
from tests.fhir.test_transaction import bundle, post

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
HEIGHT, WEIGHT = "8302-2", "29463-7"


def _search(api, kind: str, **params: str) -> dict[str, Any]:
    response = api.get(f"{FHIR}/{kind}", {**params, "_count": "200"})
    assert response.status_code == 200, response.content
    return validate(response.json())


def _count(source: dict[str, Any], kind: str, system: str, code: str) -> int:
    return sum(
        1
        for e in source["entry"]
        if e["resource"]["resourceType"] == kind
        and {"system": system, "code": code}
        in [
            {"system": c.get("system"), "code": c.get("code")}
            for c in e["resource"]["code"]["coding"]
        ]
    )


def _patient_id(body: dict[str, Any]) -> str:
    return next(
        e["response"]["location"].split("/")[1]
        for e in body["entry"]
        if e["response"]["location"].startswith("Patient/")
    )


def test_observations_kept_as_sent_are_found_by_patient_and_code(world):
    # given: weston_fay's body heights and weights (no vitals field of hm_core's: kept as sent)
    api, source = world.api(), bundle("weston_fay.json")
    heights, weights = (
        _count(source, "Observation", LOINC, HEIGHT),
        _count(source, "Observation", LOINC, WEIGHT),
    )
    patient = _patient_id(post(api, source).json())
    assert heights == weights == 10
    # when
    found = _search(api, "Observation", patient=patient, code=f"{LOINC}|{HEIGHT}")
    bare = _search(api, "Observation", patient=patient, code=HEIGHT)
    either = _search(api, "Observation", code=f"{LOINC}|{HEIGHT},{LOINC}|{WEIGHT}")
    both = _search(api, "Observation", code=f"{LOINC}|{HEIGHT}", subject=f"Patient/{patient}")
    other_system = _search(api, "Observation", code=f"{SNOMED}|{HEIGHT}")
    no_system = _search(api, "Observation", code=f"|{HEIGHT}")
    whole_system = _search(api, "Observation", patient=patient, code=f"{LOINC}|")
    # then
    assert found["total"] == bare["total"] == both["total"] == heights
    assert {c["code"] for e in found["entry"] for c in e["resource"]["code"]["coding"]} == {HEIGHT}
    assert either["total"] == heights + weights
    assert other_system["total"] == no_system["total"] == 0
    everything = _search(api, "Observation", patient=patient)
    assert whole_system["total"] == everything["total"]


def test_code_combines_resources_kept_as_sent_with_hm_core_s_own_observations(lab_world):
    # given: weston_fay's complete blood counts become lab results (hemoglobin 718-7 mapped)
    # and the analytes the catalog does not name stay as sent (MCV 787-2)
    api, source = lab_world.api(), bundle("weston_fay.json")
    post(api, source)
    # when
    mapped = _search(api, "Observation", code=f"{LOINC}|718-7")
    kept = _search(api, "Observation", code=f"{LOINC}|787-2")
    together = _search(api, "Observation", code=f"{LOINC}|718-7,{LOINC}|787-2")
    # then
    assert mapped["total"] == 2 and all(
        e["resource"]["id"].endswith("-HB") for e in mapped["entry"]
    )
    assert kept["total"] == _count(source, "Observation", LOINC, "787-2") > 0
    assert together["total"] == mapped["total"] + kept["total"]


def test_code_searches_every_stored_type_with_a_code_element_and_only_those(world):
    # given
    api, source = world.api(), bundle("chad_quigley.json")
    post(api, source)
    condition = next(
        e["resource"]["code"]["coding"][0]
        for e in source["entry"]
        if e["resource"]["resourceType"] == "Condition"
    )
    # when
    found = _search(api, "Condition", code=f"{condition['system']}|{condition['code']}")
    claims = api.get(f"{FHIR}/Claim", {"code": "x"}, headers={"Prefer": "handling=strict"})
    capability = api.get(f"{FHIR}/metadata").json()
    # then
    assert found["total"] == _count(source, "Condition", condition["system"], condition["code"])
    assert found["total"] >= 1
    assert claims.status_code == 400  # Claim has no `code` element: an unknown parameter
    params = {
        r["type"]: {p["name"] for p in r.get("searchParam", [])}
        for r in capability["rest"][0]["resource"]
    }
    assert "code" in params["Condition"] and "code" in params["Procedure"]
    assert "code" not in params["Claim"] and "code" not in params["Immunization"]


def test_a_code_an_update_dropped_no_longer_matches(world):
    # given: a Condition imported, then sent again with another code
    api, source = world.api(), bundle("desmond_gutmann.json")
    post(api, source)
    index = next(
        i for i, e in enumerate(source["entry"]) if e["resource"]["resourceType"] == "Condition"
    )
    old = source["entry"][index]["resource"]["code"]["coding"][0]
    changed = copy.deepcopy(source)
    changed["entry"][index]["resource"]["code"] = {
        "coding": [{"system": SNOMED, "code": "38341003", "display": "Hypertension"}]
    }
    before = _search(api, "Condition", code=f"{old['system']}|{old['code']}")["total"]
    # when
    again = post(api, changed).json()
    # then
    assert again["entry"][index]["response"]["location"].endswith("/_history/2")
    assert _search(api, "Condition", code=f"{old['system']}|{old['code']}")["total"] == before - 1
    assert _search(api, "Condition", code=f"{SNOMED}|38341003")["total"] >= 1
    # the earlier version still reads back with its code
    path = again["entry"][index]["response"]["location"].split("/_history")[0]
    first = api.get(f"{FHIR}/{path}/_history/1").json()
    assert first["code"]["coding"][0]["code"] == old["code"]
