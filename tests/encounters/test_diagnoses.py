"""ICD-10 diagnoses on the assessment (contract §15): checked against ICD-10-CM, stored in the
dotted form, on the event and the encounter; anything else is 422 and writes nothing."""

from __future__ import annotations

import pytest

from hm_core.events.models import Event
from tests.encounters.conftest import enc_url, error_of, event_count, make_encounter


@pytest.fixture
def consult(world):
    return make_encounter(world, "IN_CONSULT")


def test_assessment_records_icd10_diagnoses_in_dotted_form(world, consult):
    body = {
        "assessment": "Asthma, hypertension",
        "diagnoses": [{"code": "j45909", "system": "icd10"}, {"code": "I10", "system": "icd10"}],
    }

    r = world.api("doctor").post(enc_url(consult, "assessment"), body)

    assert r.status_code == 200, r.json()
    expected = [{"code": "J45.909", "system": "icd10"}, {"code": "I10", "system": "icd10"}]
    assert r.json()["diagnoses"] == expected
    event = Event.objects.get(stream_id=consult.id, type="encounter.assessment_recorded")
    assert event.schema_version == 2 and event.payload["diagnoses"] == expected
    assert world.api("doctor").get(enc_url(consult)).json()["diagnoses"] == expected


def test_assessment_without_diagnoses_still_works(world, consult):
    r = world.api("doctor").post(enc_url(consult, "assessment"), {"assessment": "URTI"})
    assert r.status_code == 200 and r.json()["diagnoses"] == []


@pytest.mark.parametrize(
    "diagnosis",
    [
        {"code": "XYZ", "system": "icd10"},  # not a code
        {"code": "J45.9099", "system": "icd10"},  # too long a subcategory
        {"code": "A00-A09", "system": "icd10"},  # a block, not a code
        {"code": "J45.909", "system": "icd9"},  # another system
        {"code": "J45.909"},  # system missing
        {"code": "J45.909", "system": "icd10", "display": "Asthma"},  # unknown field
    ],
)
def test_bad_diagnoses_are_422_and_write_nothing(world, consult, diagnosis):
    before = event_count(world)

    r = world.api("doctor").post(
        enc_url(consult, "assessment"), {"assessment": "Asthma", "diagnoses": [diagnosis]}
    )

    assert r.status_code == 422 and error_of(r)["code"] == "validation_error", r.json()
    assert error_of(r)["details"][0]["field"].startswith("diagnoses")
    assert event_count(world) == before


def test_a_diagnosis_listed_twice_is_422(world, consult):
    twice = [{"code": "I10", "system": "icd10"}, {"code": "I10", "system": "icd10"}]
    r = world.api("doctor").post(
        enc_url(consult, "assessment"), {"assessment": "HTN", "diagnoses": twice}
    )
    assert r.status_code == 422 and error_of(r)["code"] == "validation_error"


def test_stored_v1_assessments_read_as_having_no_diagnoses():
    from hm_core.encounters.events import AssessmentRecorded

    payload = {
        "encounter_id": "6f1c3b1e-5d7a-4c51-9b0e-2a8f4d6c9e11",
        "patient_id": "6f1c3b1e-5d7a-4c51-9b0e-2a8f4d6c9e12",
        "assessment": "URTI",
    }
    event = AssessmentRecorded.from_payload(payload, version=1)
    assert isinstance(event, AssessmentRecorded) and event.diagnoses == ()
