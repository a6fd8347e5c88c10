"""Confidential patients through FHIR (contract §18): outside the care team, every resource
about the patient is 404 and searches leave them out; the care team and break-glass read them."""

from __future__ import annotations

from typing import Any

import pytest

from hm_core.common.scope import scope_active
from hm_core.patients.selectors import patient_get
from tests.encounters.conftest import make_encounter
from tests.fhir.conftest import FHIR
from tests.patients.factories import register_patient


@pytest.fixture
def secret(world) -> dict[str, Any]:
    """A confidential patient with an open encounter the admin works (the admin is its care
    team; the nurse, who may view patients and encounters, is not)."""
    patient = register_patient(
        world.api("receptionist"), full_name="Vera Hidden", mrn="VIP-1", confidential=True
    )
    with scope_active(scope := world.scope("admin")):
        row = patient_get(scope=scope, patient_id=patient["id"])
    encounter = make_encounter(world, "IN_CONSULT", patient=row)
    return {**patient, "encounter": str(encounter.id)}


def _reads(secret: dict[str, Any]) -> list[str]:
    pid, eid = secret["id"], secret["encounter"]
    return [
        f"{FHIR}/Patient/{pid}",
        f"{FHIR}/Patient/{pid}/_history",
        f"{FHIR}/Patient/{pid}/_history/1",
        f"{FHIR}/Patient/{pid}/$everything",
        f"{FHIR}/Encounter/{eid}",
        f"{FHIR}/Encounter/{eid}/_history",
        f"{FHIR}/Encounter/{eid}/_history/1",
    ]


def _found(api, url: str, params: dict[str, str] | None = None) -> list[str]:
    r = api.get(url, params or {})
    assert r.status_code == 200, r.content
    body = r.json()
    return [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]


def test_outside_the_care_team_every_resource_is_404_and_searches_leave_it_out(world, secret):
    # given
    ordinary = register_patient(world.api(), full_name="Otto Open")
    nurse = world.api("nurse")
    # then: reads are 404, as for a patient that does not exist
    for url in _reads(secret):
        r = nurse.get(url)
        assert r.status_code == 404, url
        assert r.json()["resourceType"] == "OperationOutcome"
    # searches: neither the patient nor anything about them, totals included
    assert _found(nurse, f"{FHIR}/Patient") == [ordinary["id"]]
    assert _found(nurse, f"{FHIR}/Patient", {"identifier": "VIP-1"}) == []
    assert _found(nurse, f"{FHIR}/Encounter") == []
    assert _found(nurse, f"{FHIR}/Encounter", {"patient": secret["id"]}) == []
    assert _found(nurse, f"{FHIR}/Observation", {"patient": secret["id"]}) == []
    assert nurse.get(f"{FHIR}/Encounter").json()["total"] == 0
    # the ordinary patient is unaffected
    assert nurse.get(f"{FHIR}/Patient/{ordinary['id']}").status_code == 200


def test_the_care_team_and_a_break_glass_grant_read_it(world, secret):
    # the admin works the open encounter
    admin = world.api()
    for url in _reads(secret):
        assert admin.get(url).status_code == 200, url
    assert _found(admin, f"{FHIR}/Encounter", {"patient": secret["id"]}) == [secret["encounter"]]
    assert _found(admin, f"{FHIR}/Observation", {"patient": secret["id"]})
    # the nurse breaks the glass: an hour of access
    nurse = world.api("nurse")
    r = nurse.post(f"/api/patients/{secret['id']}/break-glass/", {"reason": "Emergency"})
    assert r.status_code == 200, r.content
    for url in _reads(secret):
        assert nurse.get(url).status_code == 200, url
    assert _found(nurse, f"{FHIR}/Patient", {"identifier": "VIP-1"}) == [secret["id"]]
