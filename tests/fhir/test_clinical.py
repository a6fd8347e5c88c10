"""FHIR Encounter, vital-signs and laboratory Observations, DiagnosticReport."""

from __future__ import annotations

from hm_core.fhir.validation import validate
from tests.fhir.conftest import FHIR, released_k_result


def _bundle(response):
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body)
    return body


def test_encounter_read_and_vread_rebuild_each_state_from_the_events(world):
    # given
    from tests.encounters.conftest import make_encounter

    encounter = make_encounter(world, "CLOSED")
    api = world.api()
    # when
    current = api.get(f"{FHIR}/Encounter/{encounter.id}")
    first = api.get(f"{FHIR}/Encounter/{encounter.id}/_history/1")
    # then
    assert current.status_code == 200, current.content
    assert current.json()["status"] == "finished"
    assert current.json()["meta"]["versionId"] == str(encounter.version)
    assert first.json()["status"] == "planned"
    assert first.json()["subject"] == {"reference": f"Patient/{encounter.patient_id}"}
    history = _bundle(api.get(f"{FHIR}/Encounter/{encounter.id}/_history"))
    assert history["total"] == encounter.version
    assert history["entry"][0]["resource"] == current.json()


def test_vitals_are_vital_signs_observations_with_the_profile_loinc_codes(world):
    # given
    from tests.encounters.conftest import make_encounter

    encounter = make_encounter(world, "VITALS")
    # when
    body = _bundle(
        world.api().get(
            f"{FHIR}/Observation",
            {"encounter": f"Encounter/{encounter.id}", "category": "vital-signs"},
        )
    )
    # then
    codes = {e["resource"]["code"]["coding"][0]["code"] for e in body["entry"]}
    assert codes == {"85354-9", "8867-4", "8310-5", "59408-5", "9279-1"}
    assert body["total"] == 5
    (bp,) = [
        e["resource"]
        for e in body["entry"]
        if e["resource"]["code"]["coding"][0]["code"] == "85354-9"
    ]
    assert [c["code"]["coding"][0]["code"] for c in bp["component"]] == ["8480-6", "8462-4"]
    assert bp["component"][0]["valueQuantity"] == {
        "value": 120.0,
        "unit": "mmHg",
        "system": "http://unitsofmeasure.org",
        "code": "mm[Hg]",
    }
    hr = world.api().get(f"{FHIR}/Observation/{bp['id'].removesuffix('-bp')}-hr")
    assert hr.status_code == 200
    assert hr.json()["valueQuantity"]["code"] == "/min"
    # and a page shorter than the result counts them all (the respiratory rate included)
    paged = _bundle(
        world.api().get(
            f"{FHIR}/Observation",
            {"encounter": f"Encounter/{encounter.id}", "category": "vital-signs", "_count": "2"},
        )
    )
    assert paged["total"] == 5 and len(paged["entry"]) == 2


def test_lab_analytes_are_laboratory_observations_with_range_and_interpretation(lab_world):
    # given
    encounter, result = released_k_result(lab_world)
    api = lab_world.api()
    # when
    body = _bundle(
        api.get(
            f"{FHIR}/Observation", {"patient": str(encounter.patient_id), "category": "laboratory"}
        )
    )
    # then
    (entry,) = body["entry"]
    obs = entry["resource"]
    assert obs["status"] == "final"
    assert obs["valueQuantity"]["value"] == 5.9
    assert obs["valueQuantity"]["unit"] == "mmol/L"
    assert obs["interpretation"][0]["coding"][0]["code"] == "H"
    assert obs["referenceRange"][0]["low"]["value"] == 3.5
    assert {"system": "urn:hm-core:analyte-code", "code": "K"} in obs["code"]["coding"]
    # the earlier versions come from the result's stream
    first = api.get(f"{FHIR}/Observation/{obs['id']}/_history/1")
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "preliminary"
    assert obs["meta"]["versionId"] == str(result["version"])


def test_a_result_version_is_a_diagnostic_report_referencing_its_observations(lab_world):
    # given
    encounter, result = released_k_result(lab_world)
    api = lab_world.api()
    # when
    body = _bundle(api.get(f"{FHIR}/DiagnosticReport", {"encounter": str(encounter.id)}))
    # then
    (entry,) = body["entry"]
    report = entry["resource"]
    assert report["status"] == "final"
    assert report["result"] == [{"reference": f"Observation/{result['id']}-K"}]
    assert api.get(f"{FHIR}/{report['result'][0]['reference']}").status_code == 200
    assert api.get(f"{FHIR}/DiagnosticReport/{report['id']}").json() == report
