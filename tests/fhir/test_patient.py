"""FHIR Patient: read, vread of an earlier version, history, search and its errors."""

from __future__ import annotations

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import scope_active
from hm_core.fhir.validation import validate
from tests.patients.factories import register_patient

FHIR = "/api/fhir"


def test_read_serves_a_valid_r4_patient_with_meta_and_a_weak_etag(world):
    # given
    api = world.api()
    p = register_patient(
        api,
        full_name=None,
        given_name="Ada",
        family_name="Lovelace",
        phone="+15551234",
        email="Ada@Example.org",
        address={
            "line1": "1 Main St",
            "city": "Boston",
            "state": "MA",
            "postal_code": "02110",
            "country": "US",
        },
    )
    # when
    r = api.get(f"{FHIR}/Patient/{p['id']}")
    # then
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith("application/fhir+json")
    body = r.json()
    validate(body)
    assert body["meta"]["versionId"] == "1"
    assert r["ETag"] == 'W/"1"'
    assert body["name"][0]["family"] == "Lovelace"
    assert body["name"][0]["given"] == ["Ada"]
    assert body["gender"] == "female"
    assert {"system": "email", "value": "ada@example.org", "use": "home"} in body["telecom"]
    assert body["address"][0]["postalCode"] == "02110"
    assert body["identifier"][0]["value"] == p["mrn"]
    with scope_active(world.scope()):
        assert AuditRecord.objects.filter(action="fhir.read", patient_id=p["id"]).count() == 1


def test_vread_serves_the_earlier_version_after_an_update(world):
    # given
    api = world.api()
    p = register_patient(api, full_name="Grace Hopper")
    r = api.patch(
        f"/api/patients/{p['id']}/", {"family_name": "Murray"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200, r.content
    # when
    old = api.get(f"{FHIR}/Patient/{p['id']}/_history/1")
    new = api.get(f"{FHIR}/Patient/{p['id']}")
    history = api.get(f"{FHIR}/Patient/{p['id']}/_history")
    # then
    assert old.status_code == 200, old.content
    assert old.json()["name"][0]["family"] == "Hopper"
    assert old["ETag"] == 'W/"1"'
    assert new.json()["name"][0]["family"] == "Murray"
    assert new.json()["meta"]["versionId"] == "2"
    body = history.json()
    validate(body)
    assert body["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in body["entry"]] == ["2", "1"]
    assert api.get(f"{FHIR}/Patient/{p['id']}/_history/3").status_code == 404
