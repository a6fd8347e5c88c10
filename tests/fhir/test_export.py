"""FHIR Bulk Data `$export`: kick-off, status, manifest, NDJSON files, cancel, isolation."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import override_settings

from hm_core.fhir.export import export_run
from hm_core.fhir.validation import validate
from hm_core.patients.models import Patient
from tests.encounters.conftest import make_encounter
from tests.fhir.conftest import FHIR
from tests.fhir.test_transaction import bundle, post
from tests.patients.factories import register_patient

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture(autouse=True)
def _export_root(tmp_path):
    with override_settings(FHIR_EXPORT_ROOT=str(tmp_path / "exports")):
        yield


def _job_of(response) -> str:
    assert response.status_code == 202, response.content
    return response["Content-Location"].rsplit("/", 1)[1]


def _lines(api, url):
    r = api.client.get(url, headers=api.headers)
    assert r.status_code == 200
    assert r["Content-Type"] == "application/fhir+ndjson"
    return [json.loads(line) for line in b"".join(r.streaming_content).decode().splitlines()]


def test_a_system_export_writes_one_ndjson_file_per_type_of_this_tenant_only(world, other_world):
    # given: two tenants, each with an imported patient
    api = world.api()
    post(api, bundle("desmond_gutmann.json"))
    post(other_world.api(), bundle("fabian_yundt.json"))
    # when
    job = _job_of(api.get(f"{FHIR}/$export", headers=ASYNC))
    queued = api.get(f"{FHIR}/$export-status/{job}")
    export_run(uuid.UUID(job))  # what the worker (or the embedded thread) runs
    done = api.get(f"{FHIR}/$export-status/{job}")
    # then
    assert queued.status_code == 202
    assert queued["X-Progress"]
    assert done.status_code == 200, done.content
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    by_type = {o["type"]: o for o in manifest["output"]}
    assert {"Patient", "Encounter", "Condition", "Observation", "Organization"} <= set(by_type)
    patients = _lines(api, by_type["Patient"]["url"])
    assert [p["name"][0]["family"] for p in patients] == ["Gutmann"]
    assert by_type["Patient"]["count"] == 1
    for line in _lines(api, by_type["Condition"]["url"]):
        validate(line)
        assert line["subject"]["reference"] == f"Patient/{patients[0]['id']}"
    # the files are behind the token and the scope
    assert api.client.get(by_type["Patient"]["url"]).status_code == 401
    rival = other_world.api()
    assert rival.client.get(by_type["Patient"]["url"], headers=rival.headers).status_code == 404
    assert rival.get(f"{FHIR}/$export-status/{job}").status_code == 404
    from hm_core.audit.models import AuditRecord
    from hm_core.common.scope import scope_active

    with scope_active(world.scope()):
        (record,) = AuditRecord.objects.filter(action="fhir.export")
    assert record.detail["export"] == job


def test_type_and_since_filter_and_delete_cancels(world):
    api = world.api()
    post(api, bundle("desmond_gutmann.json"))
    job = _job_of(api.get(f"{FHIR}/Patient/$export", {"_type": "Patient,Condition"}, headers=ASYNC))
    export_run(uuid.UUID(job))
    types = {o["type"] for o in api.get(f"{FHIR}/$export-status/{job}").json()["output"]}
    assert types == {"Patient", "Condition"}
    later = _job_of(api.get(f"{FHIR}/$export", {"_since": "2999-01-01T00:00:00Z"}, headers=ASYNC))
    export_run(uuid.UUID(later))
    assert api.get(f"{FHIR}/$export-status/{later}").json()["output"] == []
    assert api.delete(f"{FHIR}/$export-status/{job}").status_code == 202
    assert api.get(f"{FHIR}/$export-status/{job}").status_code == 404


def test_export_is_admin_only_async_only_and_checks_types(world):
    api = world.api()
    assert world.api("doctor").get(f"{FHIR}/$export", headers=ASYNC).status_code == 403
    assert api.get(f"{FHIR}/$export").status_code == 400
    bad = api.get(f"{FHIR}/$export", {"_type": "Spaceship"}, headers=ASYNC)
    assert bad.status_code == 400
    assert bad.json()["resourceType"] == "OperationOutcome"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_export_runs_in_the_background_after_commit(world):
    # given
    api = world.api()
    post(api, bundle("desmond_gutmann.json"))
    # when: the embedded mode runs it in a thread once the kick-off committed
    job = _job_of(api.get(f"{FHIR}/$export", headers=ASYNC))
    deadline = time.monotonic() + 60
    while (r := api.get(f"{FHIR}/$export-status/{job}")).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # then
    assert r.status_code == 200, r.content
    assert {o["type"] for o in r.json()["output"]} >= {"Patient", "Encounter"}


def test_patients_denying_data_sharing_are_left_out_and_the_manifest_says_how_many(world):
    # given: three patients with encounters; one denies data sharing, one denied it and then
    # permitted it again (the later consent decides), one never said anything
    api = world.api()
    denying, changed_mind, silent = (
        register_patient(api, full_name=name) for name in ("Ann Deny", "Bob Again", "Cy Quiet")
    )
    for patient in (denying, changed_mind, silent):
        make_encounter(world, "CHECKED_IN", patient=Patient.all_tenants.get(id=patient["id"]))
    for patient, decision in ((denying, "deny"), (changed_mind, "deny"), (changed_mind, "permit")):
        r = api.post(
            f"/api/patients/{patient['id']}/consents/",
            {"category": "data_sharing", "decision": decision},
        )
        assert r.status_code == 201, r.content
    # when: both export levels
    manifests = []
    for url in (f"{FHIR}/$export", f"{FHIR}/Patient/$export"):
        job = _job_of(api.get(url, headers=ASYNC))
        export_run(uuid.UUID(job))
        done = api.get(f"{FHIR}/$export-status/{job}")
        assert done.status_code == 200, done.content
        manifests.append(done.json())
    # then
    for manifest in manifests:
        by_type = {o["type"]: o for o in manifest["output"]}
        exported = {p["id"] for p in _lines(api, by_type["Patient"]["url"])}
        assert exported == {changed_mind["id"], silent["id"]}
        encounters = _lines(api, by_type["Encounter"]["url"])
        assert {e["subject"]["reference"] for e in encounters} == {
            f"Patient/{changed_mind['id']}",
            f"Patient/{silent['id']}",
        }
        (error,) = manifest["error"]
        assert error["type"] == "OperationOutcome"
        assert error["count"] == 1
        (outcome,) = _lines(api, error["url"])
        validate(outcome)
        assert outcome["issue"][0]["code"] == "suppressed"
        # nothing of the patient who refused is in any file, not even its id
        for item in (*manifest["output"], error):
            body = json.dumps(_lines(api, item["url"]))
            assert denying["id"] not in body and denying["mrn"] not in body
