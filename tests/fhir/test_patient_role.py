"""Role `patient` through FHIR (contract §17): `GET Patient/{own}/$everything` and nothing else;
another patient's id is 404, as every FHIR route not open to patients."""

from __future__ import annotations

import pytest

from hm_core.catalog.services import catalog_seed
from hm_core.fhir.validation import validate
from tests.fhir.conftest import FHIR
from tests.iam.test_patient_access import Portal, _chart, _portal
from tests.scheduling.conftest import make_schedule


@pytest.fixture
def portal(world) -> Portal:
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    make_schedule(world)  # each chart books an appointment on the doctor's grid
    own = _chart(world, pending=True, slot="09:00")  # a released K result, an unreleased CRP
    other = _chart(world, pending=False, slot="09:30")
    return Portal(world, own, other, _portal(world, own.patient))


def test_the_patient_reads_its_own_everything_and_only_what_it_may_see(portal):
    api, own, other = portal.api, portal.own, portal.other
    # when
    response = api.get(f"{FHIR}/Patient/{own.patient}/$everything")
    slash = api.get(f"{FHIR}/Patient/{own.patient}/$everything/")
    # then: its record, its encounter, its released result; not the unreleased one
    assert response.status_code == 200, response.content
    assert slash.status_code == 200, slash.content
    bundle = validate(response.json())
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    assert ("Patient", own.patient) in found
    assert ("Encounter", own.encounter) in found
    analytes = {rid for kind, rid in found if kind == "Observation" and "-" in rid[36:]}
    assert f"{own.released}-K" in analytes
    reports = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    ]
    assert [r["identifier"][0]["value"] for r in reports] == [f"{own.released}/1"]
    assert reports[0]["status"] == "final"
    assert reports[0]["result"] == [{"reference": f"Observation/{own.released}-K"}]
    text = response.content.decode()
    assert own.pending not in text
    assert not {i for i in other.ids() if i in text}
    # nothing about any other patient, nor any other FHIR route
    for url in (
        f"{FHIR}/Patient/{other.patient}/$everything",
        f"{FHIR}/Patient/{own.patient}",
        f"{FHIR}/Patient",
        f"{FHIR}/Encounter/{own.encounter}",
        f"{FHIR}/$export",
    ):
        r = api.get(url)
        assert r.status_code == 404, url
        assert r.json()["resourceType"] == "OperationOutcome"


def test_a_confidential_patient_reads_its_own_everything(portal):
    # given: the patient is confidential; its account has no encounter, order or task of its own
    api, own = portal.api, portal.own
    marked = portal.world.api("admin").patch(
        f"/api/patients/{own.patient}/", {"confidential": True}
    )
    assert marked.status_code == 200, marked.content
    # when
    response = api.get(f"{FHIR}/Patient/{own.patient}/$everything")
    # then: a patient is always on its own care team
    assert response.status_code == 200, response.content
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in response.json()["entry"]}
    assert {("Patient", own.patient), ("Encounter", own.encounter)} <= found
