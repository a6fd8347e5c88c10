"""POST /api/fhir: transaction and batch Bundles, Synthea imports, idempotent re-import."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from pathlib import Path

import pytest

from hm_core.common.scope import scope_active
from hm_core.events.models import Event
from hm_core.fhir.models import StoredResource
from hm_core.fhir.validation import validate
from tests.fhir.conftest import FHIR

FIXTURES = Path(__file__).parent / "fixtures"
SYNTHEA = sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "manifest.json")


def bundle(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def events_of(world) -> int:
    return Event.objects.filter(tenant_id=world.tenant.id).count()


def post(api, body):
    return api.client.post(
        FHIR, data=json.dumps(body), content_type="application/fhir+json", headers=api.headers
    )


@pytest.mark.parametrize("name", SYNTHEA)
def test_a_synthea_bundle_imports_and_importing_it_again_changes_nothing(world, name):
    # given
    api = world.api()
    source = bundle(name)
    # when
    first = post(api, source)
    written = events_of(world)
    again = post(api, source)
    # then
    assert first.status_code == 200, first.content[:2000]
    body = first.json()
    validate(body)
    assert body["type"] == "transaction-response"
    assert len(body["entry"]) == len(source["entry"])
    assert {e["response"]["status"] for e in body["entry"]} == {"201 Created"}
    assert again.status_code == 200
    assert {e["response"]["status"] for e in again.json()["entry"]} == {"200 OK"}
    assert events_of(world) == written
    assert [e["response"]["location"].split("/_history")[0] for e in again.json()["entry"]] == [
        e["response"]["location"].split("/_history")[0] for e in body["entry"]
    ]


def test_an_import_registers_the_patient_with_closed_encounters_and_no_tasks(world):
    # given
    api = world.api()
    source = bundle("weston_fay.json")
    # when
    body = post(api, source).json()
    # then
    locations = [e["response"]["location"] for e in body["entry"]]
    patient = locations[0]
    assert patient.startswith("Patient/")
    read = api.get(f"{FHIR}/{patient}").json()
    assert read["name"][0]["family"] == source["entry"][0]["resource"]["name"][0]["family"]
    assert read["address"][0]["state"] == "MA"
    encounters = api.get(f"{FHIR}/Encounter", {"patient": patient, "_count": "200"}).json()
    wanted = sum(1 for e in source["entry"] if e["resource"]["resourceType"] == "Encounter")
    assert encounters["total"] == wanted
    assert {e["resource"]["status"] for e in encounters["entry"]} == {"finished"}
    assert api.get("/api/tasks/").json()["count"] == 0
    # everything else is kept as sent, readable and searchable by patient
    kinds = Counter(e["resource"]["resourceType"] for e in source["entry"])
    conditions = api.get(f"{FHIR}/Condition", {"patient": patient}).json()
    assert conditions["total"] == kinds["Condition"]
    condition = conditions["entry"][0]["resource"]
    assert condition["subject"] == {"reference": patient}
    assert condition["encounter"]["reference"].startswith("Encounter/")
    assert api.get(f"{FHIR}/Condition/{condition['id']}/_history/1").status_code == 200
    observations = api.get(f"{FHIR}/Observation", {"subject": patient, "_count": "200"}).json()
    assert observations["total"] == kinds["Observation"]


def test_a_transaction_with_one_invalid_entry_writes_nothing(world):
    # given
    api = world.api()
    source = bundle("desmond_gutmann.json")
    broken = copy.deepcopy(source)
    broken["entry"][5]["resource"]["status"] = 17  # not a code
    before = events_of(world)
    # when
    r = post(api, broken)
    # then
    assert r.status_code == 422, r.content[:500]
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "entry 5" in outcome["issue"][0]["diagnostics"]
    assert events_of(world) == before


def test_a_transaction_failing_after_earlier_entries_wrote_writes_nothing(lab_world):
    # given: weston_fay's last blood count names a patient that is not its encounter's, which
    # only shows when that result is recorded: after the patient, the encounters and the
    # resources before it were written in the Bundle's unit of work
    api = lab_world.api()
    broken = bundle("weston_fay.json")
    index = max(
        i
        for i, e in enumerate(broken["entry"])
        if e["resource"]["resourceType"] == "DiagnosticReport"
        and e["resource"]["code"]["coding"][0]["code"] == "58410-2"
    )
    broken["entry"][index]["resource"]["subject"] = {"reference": f"Patient/{uuid.uuid4()}"}
    before = events_of(lab_world)
    # when
    r = post(api, broken)
    # then
    assert r.status_code == 422, r.content[:500]
    assert events_of(lab_world) == before
    with scope_active(lab_world.scope()):
        assert not StoredResource.objects.for_scope(lab_world.scope()).exists()
    assert api.get(f"{FHIR}/Patient").json()["total"] == 0
    # and the same Bundle, repaired, imports
    assert post(api, bundle("weston_fay.json")).status_code == 200


def test_a_batch_applies_each_valid_entry_and_reports_the_invalid_one(world):
    api = world.api()
    source = bundle("desmond_gutmann.json")
    batch = {"resourceType": "Bundle", "type": "batch", "entry": source["entry"][:6]}
    batch["entry"][5] = copy.deepcopy(batch["entry"][5])
    batch["entry"][5]["resource"]["bogus"] = True
    r = post(api, batch)
    assert r.status_code == 200, r.content[:500]
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses[5] == "422"
    assert set(statuses[:5]) == {"201 Created"}


def test_conditional_create_matches_on_if_none_exist(world):
    api = world.api()
    condition = {
        "resourceType": "Condition",
        "identifier": [{"system": "urn:test", "value": "c-1"}],
        "subject": {"reference": "Patient/00000000-0000-0000-0000-000000000000"},
    }
    entry = {
        "fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
        "resource": condition,
        "request": {"method": "POST", "url": "Condition", "ifNoneExist": "identifier=urn:test|c-1"},
    }
    first = post(api, {"resourceType": "Bundle", "type": "transaction", "entry": [entry]})
    other = {**entry, "fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222"}
    second = post(api, {"resourceType": "Bundle", "type": "transaction", "entry": [other]})
    assert first.json()["entry"][0]["response"]["status"] == "201 Created"
    assert second.json()["entry"][0]["response"]["status"] == "200 OK"
    assert (
        second.json()["entry"][0]["response"]["location"]
        == first.json()["entry"][0]["response"]["location"]
    )


def test_import_needs_the_import_permission_and_a_bundle(world):
    r = post(world.api("doctor"), bundle("desmond_gutmann.json"))
    assert r.status_code == 403
    r = post(world.api(), {"resourceType": "Patient"})
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"
    with scope_active(world.scope()):
        pass


def test_everything_serves_the_patient_and_all_about_them_audited(world, other_world):
    # given
    api = world.api()
    source = bundle("lupe_little.json")
    body = post(api, source).json()
    patient = body["entry"][0]["response"]["location"]
    # when
    seen: list[str] = []
    page = api.get(f"{FHIR}/{patient}/$everything", {"_count": "100"}).json()
    total = page["total"]
    while True:
        validate(page)
        seen += [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in page["entry"]]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        page = api.client.get(nxt[0], headers=api.headers).json()
    # then
    assert patient in seen
    assert len(seen) == len(set(seen)) == total
    # the patient, encounters and all kept as sent; not the organization and practitioner
    unlinked = {"Organization", "Practitioner"}
    assert total == sum(1 for e in source["entry"] if e["resource"]["resourceType"] not in unlinked)
    from hm_core.audit.models import AuditRecord

    with scope_active(world.scope()):
        assert AuditRecord.objects.filter(
            action="fhir.everything", patient_id=patient.split("/")[1]
        ).exists()
    assert other_world.api().get(f"{FHIR}/{patient}/$everything").status_code == 404
