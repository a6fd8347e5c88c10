"""FHIR Patient: read, vread of an earlier version, history, search and its errors."""

from __future__ import annotations

import json

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import scope_active
from hm_core.events.models import Event
from hm_core.fhir.validation import validate
from tests.patients.factories import register_patient

FHIR = "/api/fhir"
# Every Fernet token starts with its version byte 0x80, base64: "gAAAAA".
FERNET_TOKEN = "gAAAAA"


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


def test_vread_of_an_earlier_version_shows_the_encrypted_fields_in_clear(world):
    # given: registered with a phone, e-mail and address, then the phone changed; the
    # events hold those fields encrypted (patient.registered / patient.updated v3)
    api = world.api()
    p = register_patient(
        api,
        full_name="Ada Lovelace",
        phone="+15551234",
        email="ada@example.org",
        address={"line1": "1 Main St", "city": "Boston", "postal_code": "02110", "country": "GB"},
    )
    r = api.patch(f"/api/patients/{p['id']}/", {"phone": "+15559876"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.content
    with scope_active(world.scope()):
        stored = Event.objects.filter(stream_id=p["id"]).order_by("stream_version")
        payloads = [json.dumps(e.payload) for e in stored]
    assert "+15551234" not in payloads[0] and "+15559876" not in payloads[1]
    # when
    first = api.get(f"{FHIR}/Patient/{p['id']}/_history/1")
    second = api.get(f"{FHIR}/Patient/{p['id']}/_history/2")
    history = api.get(f"{FHIR}/Patient/{p['id']}/_history")
    # then
    assert first.status_code == 200, first.content
    body = validate(first.json())
    telecom = {t["system"]: t["value"] for t in body["telecom"]}
    assert telecom == {"phone": "+15551234", "email": "ada@example.org"}
    assert body["address"][0]["line"] == ["1 Main St"]
    assert body["address"][0]["city"] == "Boston"
    assert {t["system"]: t["value"] for t in second.json()["telecom"]}["phone"] == "+15559876"
    for response in (first, second, history):
        assert FERNET_TOKEN not in response.content.decode()
