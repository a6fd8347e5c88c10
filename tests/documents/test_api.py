"""Contract §6 through HTTP: append-only versions, transitions, If-Match, validation, roles,
audited reads and the encounter timeline."""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.audit.models import AuditRecord
from hm_core.documents.models import ClinicalDocument, DocumentVersion
from hm_core.encounters import news2
from hm_core.encounters.models import Encounter
from hm_core.encounters.services import (
    encounter_cancel,
    encounter_close,
    encounter_record_assessment,
    encounter_record_plan,
    encounter_record_vitals,
    encounter_start_consult,
)
from hm_core.events.models import Event
from tests.conftest import Api, World
from tests.documents.conftest import NOTE, create_body, make_encounter

BASE = "/api/clinical-docs/"
AMENDMENT_1 = {"subjective": "Cough for 3 days", "objective": {"temp_c": 38.4}, "plan": ["rest"]}
AMENDMENT_2 = AMENDMENT_1 | {"plan": ["rest", "paracetamol 1 g PRN"]}


def _create(api: Api, encounter: Encounter, **overrides: Any) -> dict[str, Any]:
    response = api.post(BASE, create_body(encounter, **overrides))
    assert response.status_code == 201, response.json()
    return response.json()


def _sign(api: Api, doc_id: str, **headers: str) -> Any:
    return api.post(f"{BASE}{doc_id}/sign/", headers=headers)


def _amend(api: Api, doc_id: str, payload: Any, reason: str = "late correction", **headers: str):
    return api.post(f"{BASE}{doc_id}/amend/", {"payload": payload, "reason": reason}, headers)


def _versions(api: Api, doc_id: str) -> dict[str, Any]:
    response = api.get(f"{BASE}{doc_id}/versions/")
    assert response.status_code == 200, response.json()
    return response.json()


def _document_events(world: World) -> int:
    return Event.objects.filter(tenant_id=world.tenant.id, stream_type="document").count()


def _final_document(world: World, encounter: Encounter) -> dict[str, Any]:
    doctor = world.api("doctor")
    doc = _create(doctor, encounter)
    assert _sign(doctor, doc["id"]).status_code == 200
    return doc


# -- the happy path: create → sign → amend → amend ------------------------------------------


def test_create_sign_amend_amend_appends_one_immutable_version_each(world, encounter):
    doctor = world.api("doctor")
    # when: drafted
    created = doctor.post(BASE, create_body(encounter))
    # then
    assert created.status_code == 201
    assert created["ETag"] == '"1"'
    doc = created.json()
    assert (doc["version"], doc["status"], doc["payload"]) == (1, "DRAFT", NOTE)
    assert (doc["doc_type"], doc["encounter"], doc["patient_id"]) == (
        "progress_note",
        str(encounter.id),
        str(encounter.patient_id),
    )
    assert doc["supersedes"] is None and doc["signed_at"] is None
    v1 = _versions(doctor, doc["id"])["items"][0]

    # when: signed
    signed = _sign(doctor, doc["id"])
    # then: a new FINAL version with the same content
    assert signed.status_code == 200 and signed["ETag"] == '"2"'
    body = signed.json()
    assert (body["version"], body["status"], body["payload"]) == (2, "FINAL", NOTE)
    assert body["signed_by"] == "doctor@acme" and body["signed_at"] is not None
    assert body["version_id"] != v1["id"]

    # when: amended twice
    first = _amend(doctor, doc["id"], AMENDMENT_1, reason="temperature misread")
    second = _amend(doctor, doc["id"], AMENDMENT_2, reason="analgesia added")
    # then: each amendment supersedes the version before it
    assert first.status_code == 201 and first["ETag"] == '"3"'
    assert second.status_code == 201 and second["ETag"] == '"4"'
    assert (first.json()["status"], first.json()["supersedes"]) == ("AMENDED", body["version_id"])
    assert second.json()["supersedes"] == first.json()["version_id"]
    assert second.json()["reason"] == "analgesia added"

    # then: every version is listed, oldest first, each exactly as written
    page = _versions(doctor, doc["id"])
    assert page["count"] == 4
    rows = page["items"]
    assert [r["version"] for r in rows] == [1, 2, 3, 4]
    assert [r["status"] for r in rows] == ["DRAFT", "FINAL", "AMENDED", "AMENDED"]
    assert [r["payload"] for r in rows] == [NOTE, NOTE, AMENDMENT_1, AMENDMENT_2]
    assert [r["supersedes"] for r in rows] == [None, None, rows[1]["id"], rows[2]["id"]]
    assert [r["reason"] for r in rows] == ["", "", "temperature misread", "analgesia added"]
    assert rows[0] == v1  # version 1 did not change in any field
    assert {r["author_username"] for r in rows} == {"doctor@acme"}

    # then: the document shows its latest version
    current = doctor.get(f"{BASE}{doc['id']}/")
    assert current.status_code == 200 and current["ETag"] == '"4"'
    assert (current.json()["version"], current.json()["payload"]) == (4, AMENDMENT_2)
    assert current.json()["signed_by"] == "doctor@acme"
    assert _document_events(world) == 4


def test_versions_are_stored_rows_that_cannot_be_changed_or_removed(world, encounter):
    # given
    doc = _final_document(world, encounter)
    _amend(world.api("doctor"), doc["id"], AMENDMENT_1)
    version = DocumentVersion.all_tenants.get(document_id=doc["id"], version=1)
    before = copy.deepcopy(version.payload)
    # when / then
    version.payload = {"forged": True}
    with pytest.raises(RuntimeError, match="immutable"):
        version.save()
    with pytest.raises(RuntimeError, match="immutable"):
        version.delete()
    with pytest.raises(RuntimeError, match="immutable"):
        DocumentVersion.all_tenants.filter(document_id=doc["id"]).update(reason="x")
    stored = DocumentVersion.all_tenants.get(document_id=doc["id"], version=1)
    assert stored.payload == before == NOTE


def test_list_filters_by_encounter_and_shows_no_content(world, encounter):
    # given
    other = make_encounter(world)
    doctor = world.api("doctor")
    mine = [_create(doctor, encounter)["id"], _create(doctor, encounter, doc_type="referral")["id"]]
    _create(doctor, other)
    # when
    page = doctor.get(BASE, {"encounter": str(encounter.id), "limit": 1})
    everything = doctor.get(BASE).json()
    # then
    assert page.status_code == 200
    assert page.json()["count"] == 2
    assert [item["id"] for item in page.json()["items"]] == mine[:1]
    assert everything["count"] == 3
    assert "payload" not in everything["items"][0]
    assert doctor.get(BASE, {"status": "FINAL"}).json()["count"] == 0


def _queries(api: Api, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_list_and_versions_query_counts_do_not_grow_with_their_size(world, encounter):
    # given
    doctor = world.api("doctor")
    doc = _final_document(world, encounter)
    small = (_queries(doctor, BASE), _queries(doctor, f"{BASE}{doc['id']}/versions/"))
    # when
    for _ in range(3):
        _create(doctor, encounter)
        _amend(doctor, doc["id"], AMENDMENT_1)
    # then
    large = (_queries(doctor, BASE), _queries(doctor, f"{BASE}{doc['id']}/versions/"))
    assert large == small


def test_create_accepts_an_idempotency_key_once(world, encounter):
    doctor = world.api("doctor")
    headers = {"Idempotency-Key": "doc-create-1"}
    first = doctor.post(BASE, create_body(encounter), headers)
    again = doctor.post(BASE, create_body(encounter), headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert _document_events(world) == 1


# -- transitions -------------------------------------------------------------------------------


def test_signing_twice_is_an_invalid_transition(world, encounter):
    doc = _final_document(world, encounter)
    response = _sign(world.api("doctor"), doc["id"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert response.json()["error"]["details"]["from"] == "FINAL"
    assert _versions(world.api("doctor"), doc["id"])["count"] == 2


def test_amending_a_draft_is_an_invalid_transition(world, encounter):
    doc = _create(world.api("doctor"), encounter)
    response = _amend(world.api("doctor"), doc["id"], AMENDMENT_1)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert response.json()["error"]["details"]["from"] == "DRAFT"
    assert _versions(world.api("doctor"), doc["id"])["count"] == 1


def test_signing_an_amended_document_is_an_invalid_transition(world, encounter):
    doc = _final_document(world, encounter)
    _amend(world.api("doctor"), doc["id"], AMENDMENT_1)
    response = _sign(world.api("doctor"), doc["id"])
    assert response.status_code == 409
    assert response.json()["error"]["details"]["from"] == "AMENDED"


def test_a_scheduled_encounter_takes_no_documents(world):
    # given
    scheduled = make_encounter(world, check_in=False)
    # when
    response = world.api("doctor").post(BASE, create_body(scheduled))
    # then
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert error["details"]["encounter_status"] == "SCHEDULED"
    assert _document_events(world) == 0


def test_a_cancelled_encounter_takes_no_signature_and_no_new_document(world, encounter):
    # given: a draft, then the visit is cancelled
    doctor = world.api("doctor")
    doc = _create(doctor, encounter)
    encounter_cancel(scope=world.scope("doctor"), encounter_id=encounter.id, reason="left")
    # when
    sign = _sign(doctor, doc["id"])
    create = doctor.post(BASE, create_body(encounter))
    # then
    assert sign.status_code == 409
    assert sign.json()["error"]["details"] == {
        "from": "DRAFT",
        "action": "sign",
        "encounter_status": "CANCELLED",
    }
    assert create.status_code == 409
    assert create.json()["error"]["details"]["encounter_status"] == "CANCELLED"
    assert _document_events(world) == 1


def _close(world: World, encounter: Encounter) -> None:
    scope = world.scope("doctor")
    vitals = news2.Vitals(
        blood_pressure_systolic=122,
        blood_pressure_diastolic=78,
        pulse=72,
        temperature=Decimal("98.6"),
        spo2=98,
        respiratory_rate=16,
    )
    encounter_record_vitals(scope=scope, encounter_id=encounter.id, vitals=vitals)
    encounter_start_consult(scope=scope, encounter_id=encounter.id)
    encounter_record_assessment(scope=scope, encounter_id=encounter.id, assessment="URTI")
    encounter_record_plan(scope=scope, encounter_id=encounter.id, plan="Rest")
    closed = encounter_close(scope=scope, encounter_id=encounter.id)
    assert closed.status == "CLOSED"


def test_a_closed_encounter_takes_late_corrections_and_new_documents(world, encounter):
    # given
    doc = _final_document(world, encounter)
    _close(world, encounter)
    doctor = world.api("doctor")
    # when
    amended = _amend(doctor, doc["id"], AMENDMENT_1, reason="late correction")
    summary = doctor.post(BASE, create_body(encounter, doc_type="discharge_summary"))
    # then
    assert amended.status_code == 201 and amended.json()["status"] == "AMENDED"
    assert summary.status_code == 201 and summary.json()["status"] == "DRAFT"


# -- If-Match ----------------------------------------------------------------------------------


def test_sign_with_a_stale_if_match_is_412_and_writes_nothing(world, encounter):
    doctor = world.api("doctor")
    doc = _create(doctor, encounter)
    response = _sign(doctor, doc["id"], **{"If-Match": '"2"'})
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "version_mismatch"
    assert _versions(doctor, doc["id"])["count"] == 1
    assert _sign(doctor, doc["id"], **{"If-Match": '"1"'}).status_code == 200


def test_amend_with_a_stale_if_match_is_412_and_writes_nothing(world, encounter):
    doctor = world.api("doctor")
    doc = _final_document(world, encounter)
    response = _amend(doctor, doc["id"], AMENDMENT_1, **{"If-Match": '"1"'})
    assert response.status_code == 412
    assert response.json()["error"]["details"] == {"current_version": 2}
    assert _versions(doctor, doc["id"])["count"] == 2
    assert _amend(doctor, doc["id"], AMENDMENT_1, **{"If-Match": '"2"'}).status_code == 201


# -- validation --------------------------------------------------------------------------------

HUGE = {"text": "x" * (64 * 1024 + 1)}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"signed": True}, "signed"),
        ({"payload": ["not", "an", "object"]}, "payload"),
        ({"payload": "free text"}, "payload"),
        ({"payload": None}, "payload"),
        ({"payload": HUGE}, "payload"),
        ({"payload": {"text": "nul \u0000 char"}}, "payload"),
        ({"doc_type": "Progress Note"}, "doc_type"),
        ({"doc_type": ""}, "doc_type"),
        ({"doc_type": "x" * 65}, "doc_type"),
        ({"encounter": "not-a-uuid"}, "encounter"),
    ],
)
def test_create_refuses_bad_input_with_422_and_writes_nothing(world, encounter, overrides, field):
    # when
    response = world.api("doctor").post(BASE, create_body(encounter, **overrides))
    # then
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]]
    assert _document_events(world) == 0
    assert not ClinicalDocument.all_tenants.filter(tenant_id=world.tenant.id).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": AMENDMENT_1, "reason": "x", "status": "FINAL"}, "status"),
        ({"payload": [1, 2], "reason": "x"}, "payload"),
        ({"payload": HUGE, "reason": "x"}, "payload"),
        ({"payload": AMENDMENT_1}, "reason"),
        ({"payload": AMENDMENT_1, "reason": "   "}, "reason"),
        ({"reason": "x"}, "payload"),
    ],
)
def test_amend_refuses_bad_input_with_422_and_writes_nothing(world, encounter, body, field):
    # given
    doc = _final_document(world, encounter)
    events_before = _document_events(world)
    # when
    response = world.api("doctor").post(f"{BASE}{doc['id']}/amend/", body)
    # then
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["error"]["details"]]
    assert _document_events(world) == events_before
    assert _versions(world.api("doctor"), doc["id"])["count"] == 2


def test_malformed_json_is_400(world, encounter):
    response = world.api("doctor").post(BASE, '{"encounter": ')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_creating_for_an_unknown_encounter_is_404(world):
    body = {"encounter": str(uuid.uuid4()), "doc_type": "progress_note", "payload": NOTE}
    response = world.api("doctor").post(BASE, body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# -- permissions -------------------------------------------------------------------------------

READERS = {"admin", "doctor", "nurse"}
WRITERS = {"admin", "doctor", "nurse"}
SIGNERS = {"admin", "doctor"}
ROLES = ["admin", "doctor", "nurse", "lab_tech", "receptionist", "billing_clerk", "auditor"]


def _expect(role: str, allowed: set[str], ok: int) -> int:
    return ok if role in allowed else 403


@pytest.mark.parametrize("role", ROLES)
def test_read_permissions_by_role(world, encounter, role):
    # given
    doc = _create(world.api("doctor"), encounter)
    api = world.api(role)
    # when
    codes = [
        api.get(BASE).status_code,
        api.get(f"{BASE}{doc['id']}/").status_code,
        api.get(f"{BASE}{doc['id']}/versions/").status_code,
    ]
    # then
    assert codes == [_expect(role, READERS, 200)] * 3


@pytest.mark.parametrize("role", ROLES)
def test_write_permissions_by_role(world, encounter, role):
    # given
    draft = _create(world.api("doctor"), encounter)
    final = _final_document(world, encounter)
    api = world.api(role)
    # when
    create = api.post(BASE, create_body(encounter))
    sign = _sign(api, draft["id"])
    amend = _amend(api, final["id"], AMENDMENT_1)
    # then
    assert create.status_code == _expect(role, WRITERS, 201)
    assert sign.status_code == _expect(role, SIGNERS, 200)
    assert amend.status_code == _expect(role, SIGNERS, 201)
    if role not in SIGNERS:
        assert sign.json()["error"]["code"] == "permission_denied"
        assert sign.json()["error"]["details"] == {"permission": "documents.sign"}


# -- audited reads -----------------------------------------------------------------------------


def _reads(world: World, action: str) -> list[AuditRecord]:
    return list(
        AuditRecord.all_tenants.filter(
            tenant_id=world.tenant.id, kind=AuditRecord.Kind.READ, action=action
        )
    )


def test_reading_a_document_and_its_versions_is_audited(world, encounter):
    # given
    doc = _create(world.api("doctor"), encounter)
    nurse = world.api("nurse")
    # when
    nurse.get(f"{BASE}{doc['id']}/", headers={"User-Agent": "ward-tablet"})
    nurse.get(f"{BASE}{doc['id']}/versions/")
    # then
    [viewed] = _reads(world, "document.viewed")
    [versions] = _reads(world, "document.versions_viewed")
    assert viewed.patient_id == encounter.patient_id
    assert viewed.actor_username == versions.actor_username == "nurse@acme"
    assert viewed.user_agent == "ward-tablet"
    assert viewed.detail == {
        "document_id": doc["id"],
        "encounter_id": str(encounter.id),
        "version": 1,
    }
    assert versions.detail["versions"] == [1]


def test_a_refused_read_is_not_recorded_as_a_disclosure(world, encounter):
    _create(world.api("doctor"), encounter)
    world.api("doctor").get(f"{BASE}{uuid.uuid4()}/")
    world.api("lab_tech").get(f"{BASE}{uuid.uuid4()}/versions/")
    assert _reads(world, "document.viewed") == _reads(world, "document.versions_viewed") == []


# -- timeline ----------------------------------------------------------------------------------


def test_the_encounter_timeline_shows_the_document_history_in_order(world, encounter):
    # given
    doctor = world.api("doctor")
    doc = _final_document(world, encounter)
    _amend(doctor, doc["id"], AMENDMENT_1, reason="temperature misread")
    # when
    response = doctor.get(f"/api/encounters/{encounter.id}/timeline/")
    # then
    assert response.status_code == 200
    items = [i for i in response.json()["items"] if i["type"].startswith("document.")]
    assert [i["type"] for i in items] == ["document.created", "document.signed", "document.amended"]
    assert [i["summary"] for i in items] == [
        "Progress note created (draft v1)",
        "Progress note signed (final v2)",
        "Progress note amended (v3, supersedes v2): temperature misread",
    ]
    assert {i["stream"]["id"] for i in items} == {doc["id"]}
    assert [i["data"]["version"] for i in items] == [1, 2, 3]
    positions = [i["position"] for i in items]
    assert positions == sorted(positions)


def test_the_openapi_document_lists_every_endpoint(world):
    spec = json.loads(world.api("doctor").get("/api/openapi.json").content)
    paths = {p for p in spec["paths"] if p.startswith(BASE)}
    assert paths == {
        BASE,
        BASE + "{document_id}/",
        BASE + "{document_id}/versions/",
        BASE + "{document_id}/sign/",
        BASE + "{document_id}/amend/",
    }
