"""Consents (contract §18): POST/GET /api/patients/{id}/consents/, the `patient.consent_recorded`
event, and `patients_denying_sharing` for outbound HL7 and bulk export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.forms.models import model_to_dict

from hm_core.common.time import utcnow
from hm_core.events.models import Event
from hm_core.events.replay import rebuild
from hm_core.patients.models import PatientConsent
from hm_core.patients.selectors import patients_denying_sharing
from tests.patients.factories import register_patient

CONSENT_FIELDS = {
    "id",
    "patient",
    "category",
    "decision",
    "valid_from",
    "valid_to",
    "note",
    "active",
    "version",
    "recorded_at",
    "recorded_by",
}


def _url(patient: dict) -> str:
    return f"/api/patients/{patient['id']}/consents/"


def test_record_answers_201_and_the_event_is_stored(world):
    # given
    patient = register_patient(world.api())
    body = {"category": "data_sharing", "decision": "deny", "note": "No HIE"}

    # when
    response = world.api("doctor").post(_url(patient), body)

    # then
    assert response.status_code == 201, response.content
    consent = response.json()
    assert set(consent) == CONSENT_FIELDS
    assert (consent["category"], consent["decision"], consent["note"]) == (
        "data_sharing",
        "deny",
        "No HIE",
    )
    assert consent["active"] is True and consent["valid_to"] is None
    assert consent["patient"] == patient["id"] and consent["version"] == 1
    event = Event.objects.get(type="patient.consent_recorded")
    assert (event.stream_type, str(event.stream_id)) == ("consent", consent["id"])
    assert event.payload["patient_id"] == patient["id"]


def test_list_shows_the_patients_consents_in_recorded_order_and_is_audited(world):
    patient, other = register_patient(world.api()), register_patient(world.api())
    api = world.api("doctor")
    api.post(_url(patient), {"category": "treatment", "decision": "permit"})
    api.post(_url(other), {"category": "research", "decision": "deny"})
    past = {"valid_from": "2020-01-01T00:00:00Z", "valid_to": "2021-01-01T00:00:00Z"}
    api.post(_url(patient), {"category": "research", "decision": "permit", **past})

    response = world.api("nurse").get(_url(patient))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert [(c["category"], c["active"]) for c in body["items"]] == [
        ("treatment", True),
        ("research", False),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"category": "marketing", "decision": "deny"}, id="unknown-category"),
        pytest.param({"category": "research", "decision": "maybe"}, id="unknown-decision"),
        pytest.param({"decision": "deny"}, id="no-category"),
        pytest.param(
            {"category": "research", "decision": "deny", "valid_from": "2030-01-01T00:00:00"},
            id="naive-datetime",
        ),
        pytest.param(
            {
                "category": "research",
                "decision": "deny",
                "valid_from": "2030-01-02T00:00:00Z",
                "valid_to": "2030-01-01T00:00:00Z",
            },
            id="ends-before-it-starts",
        ),
        pytest.param({"category": "research", "decision": "deny", "x": 1}, id="unknown-field"),
    ],
)
def test_bad_consents_are_422_and_write_nothing(world, body):
    patient = register_patient(world.api())
    events = Event.objects.count()

    response = world.api("doctor").post(_url(patient), body)

    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert Event.objects.count() == events and not PatientConsent.all_tenants.exists()


def test_consents_of_a_missing_or_other_tenants_patient_are_404(world, other_world):
    theirs = register_patient(other_world.api())
    body = {"category": "research", "decision": "deny"}

    for url in (_url({"id": uuid.uuid4()}), _url(theirs)):
        assert world.api("doctor").post(url, body).status_code == 404
        assert world.api("doctor").get(url).status_code == 404


def test_recording_needs_patients_update(world):
    patient = register_patient(world.api())

    response = world.api("nurse").post(_url(patient), {"category": "research", "decision": "deny"})

    assert response.status_code == 403


def test_patients_denying_sharing_takes_the_latest_active_data_sharing_consent(world):
    # given
    api = world.api("doctor")
    denied, permitted_later, expired, future, research, silent = (
        register_patient(api) for _ in range(6)
    )
    api.post(_url(denied), {"category": "data_sharing", "decision": "deny"})
    api.post(_url(permitted_later), {"category": "data_sharing", "decision": "deny"})
    api.post(_url(permitted_later), {"category": "data_sharing", "decision": "permit"})
    past = {"valid_from": "2020-01-01T00:00:00Z", "valid_to": "2021-01-01T00:00:00Z"}
    api.post(_url(expired), {"category": "data_sharing", "decision": "deny", **past})
    soon = (utcnow() + timedelta(days=1)).isoformat()
    api.post(_url(future), {"category": "data_sharing", "decision": "deny", "valid_from": soon})
    api.post(_url(research), {"category": "research", "decision": "deny"})
    everyone = [denied, permitted_later, expired, future, research, silent]

    # when
    found = patients_denying_sharing(
        tenant_id=world.tenant.id, patient_ids=[uuid.UUID(p["id"]) for p in everyone]
    )

    # then
    assert found == {uuid.UUID(denied["id"])}
    in_two_days = datetime.now(UTC) + timedelta(days=2)
    later = patients_denying_sharing(
        tenant_id=world.tenant.id,
        patient_ids=[uuid.UUID(p["id"]) for p in everyone],
        at=in_two_days,
    )
    assert later == {uuid.UUID(denied["id"]), uuid.UUID(future["id"])}
    assert patients_denying_sharing(tenant_id=uuid.uuid4(), patient_ids=[denied["id"]]) == set()


def test_consents_rebuild_equal_live(world):
    patient = register_patient(world.api())
    api = world.api("doctor")
    api.post(_url(patient), {"category": "data_sharing", "decision": "deny"})
    api.post(_url(patient), {"category": "research", "decision": "permit", "note": "trial 7"})
    live = [model_to_dict(c) for c in PatientConsent.all_tenants.order_by("pk")]

    rebuild(["patients"], tenant_ids=[world.tenant.id])

    assert [model_to_dict(c) for c in PatientConsent.all_tenants.order_by("pk")] == live
    assert len(live) == 2
