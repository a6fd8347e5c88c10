"""Bad input never gives a 500, and every error has the contract's one body (contract §1).

Also: unknown paths and methods under /api/, a real server error, and request ids.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import IntegrityError
from django.test import Client

from hm_core.audit.models import AuditRecord
from hm_core.events.models import Event
from hm_core.idempotency.models import IdempotentRequest
from hm_core.patients import services as patient_services
from hm_core.patients.models import Patient
from tests.patients.factories import patient_body, register_patient

URL = "/api/patients/"


def _written(world) -> tuple[int, int, int]:
    return (
        Event.objects.filter(tenant_id=world.tenant.id).count(),
        Patient.all_tenants.filter(tenant_id=world.tenant.id).count(),
        IdempotentRequest.objects.filter(completed_at__isnull=True).count(),
    )


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def _assert_validation_details(error: dict, *fields: str) -> None:
    details = error["details"]
    assert isinstance(details, list) and details
    assert all(set(d) == {"field", "message"} for d in details), details
    assert all(isinstance(d["message"], str) and d["message"] for d in details)
    assert {d["field"] for d in details} == set(fields)


# --- malformed JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"full_name": ', id="truncated"),
        pytest.param("not json at all", id="not-json"),
        pytest.param("{'full_name': 'single quotes'}", id="single-quotes"),
        pytest.param('{"full_name": "x",}', id="trailing-comma"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param("[" * 100_000, id="nested-too-deep"),
    ],
)
@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
def test_malformed_json_is_400_malformed_json_and_writes_nothing(world, raw, with_key):
    # given
    api = world.api()
    headers = {"Idempotency-Key": f"malformed-{uuid.uuid4()}"} if with_key else {}
    before = _written(world)

    # when
    response = api.post(URL, raw, headers=headers)

    # then
    _error(response, 400, "malformed_json")
    assert _written(world) == before


def test_malformed_json_on_patch_is_400_malformed_json(world):
    api = world.api()
    patient = register_patient(api)
    before = _written(world)

    response = api.patch(f"/api/patients/{patient['id']}/", '{"full_name": "x"')

    _error(response, 400, "malformed_json")
    assert _written(world) == before


@pytest.mark.parametrize(
    "raw",
    ["[]", "null", '"a string"', "42", "{}"],
    ids=["list", "null", "string", "number", "empty"],
)
def test_a_json_body_that_is_not_the_expected_object_is_422(world, raw):
    before = _written(world)

    response = world.api().post(URL, raw)

    error = _error(response, 422, "validation_error")
    assert all(set(d) == {"field", "message"} for d in error["details"])
    assert _written(world) == before


def test_an_empty_body_is_422(world):
    response = world.api().post(URL, b"")
    _error(response, 422, "validation_error")


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        pytest.param({"date_of_birth": 19800101}, ["date_of_birth"], id="dob-number"),
        pytest.param({"date_of_birth": "1980-02-30"}, ["date_of_birth"], id="dob-impossible-day"),
        pytest.param({"date_of_birth": "yesterday"}, ["date_of_birth"], id="dob-word"),
        pytest.param({"gender": "X"}, ["gender"], id="gender-unknown"),
        pytest.param({"gender": 1}, ["gender"], id="gender-number"),
        pytest.param({"full_name": ["Anna"]}, ["full_name"], id="name-list"),
        pytest.param({"full_name": {"first": "Anna"}}, ["full_name"], id="name-object"),
        pytest.param({"full_name": 42}, ["full_name"], id="name-number"),
        pytest.param({"full_name": None}, ["full_name"], id="name-null"),
        pytest.param({"full_name": ""}, ["full_name"], id="name-empty"),
        pytest.param({"full_name": "   "}, ["full_name"], id="name-blank"),
        pytest.param({"full_name": "x" * 201}, ["full_name"], id="name-201-chars"),
        pytest.param({"full_name": "x" * 10_000}, ["full_name"], id="name-10000-chars"),
        pytest.param({"mrn": "m" * 65}, ["mrn"], id="mrn-65-chars"),
        pytest.param({"mrn": "has space"}, ["mrn"], id="mrn-with-space"),
        pytest.param({"phone": "call me maybe"}, ["phone"], id="phone-words"),
        pytest.param({"phone": "1" * 33}, ["phone"], id="phone-33-chars"),
        pytest.param({"email": "not-an-email"}, ["email"], id="email-invalid"),
        pytest.param({"address": "a" * 501}, ["address"], id="address-501-chars"),
        pytest.param({"full_name": "Anna\x00Smith"}, ["full_name"], id="name-nul-character"),
        pytest.param({"is_admin": True}, ["is_admin"], id="unknown-field"),
        pytest.param({"id": str(uuid.uuid4())}, ["id"], id="client-chosen-id"),
        pytest.param({"version": 7}, ["version"], id="client-chosen-version"),
        pytest.param(
            {"gender": "X", "full_name": "", "nickname": "A"},
            ["gender", "full_name", "nickname"],
            id="several-at-once",
        ),
    ],
)
def test_invalid_register_bodies_are_422_with_field_details_and_write_nothing(
    world, overrides, fields
):
    # given
    api = world.api()
    before = _written(world)

    # when
    response = api.post(URL, patient_body(**overrides))

    # then
    error = _error(response, 422, "validation_error")
    _assert_validation_details(error, *fields)
    assert _written(world) == before


def test_missing_required_fields_are_each_named(world):
    response = world.api().post(URL, {"phone": "+1 555 0100"})

    error = _error(response, 422, "validation_error")
    _assert_validation_details(error, "full_name", "mrn", "date_of_birth", "gender")


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"full_name": "x" * 201}, ["full_name"], id="name-201-chars"),
        pytest.param({"gender": "X"}, ["gender"], id="gender-unknown"),
        pytest.param({"date_of_birth": "soon"}, ["date_of_birth"], id="dob-word"),
        pytest.param({"is_deleted": True}, ["is_deleted"], id="unknown-field"),
        pytest.param({"address": "Main street\x00 1"}, ["address"], id="nul-character"),
    ],
)
def test_invalid_patch_bodies_are_422_and_write_nothing(world, changes, fields):
    api = world.api()
    patient = register_patient(api)
    before = _written(world)

    response = api.patch(f"/api/patients/{patient['id']}/", changes)

    _assert_validation_details(_error(response, 422, "validation_error"), *fields)
    assert _written(world) == before


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"search": "x" * 101}, id="search-too-long"),
        pytest.param({"search": "Anna\x00"}, id="search-nul-character"),
        pytest.param({"ordering": "password"}, id="ordering-unknown"),
        pytest.param({"limit": "1e3"}, id="limit-not-an-integer"),
    ],
)
def test_invalid_list_parameters_are_422(world, params):
    response = world.api().get(URL, params)
    _assert_validation_details(_error(response, 422, "validation_error"), *params)


@pytest.mark.parametrize("term", ["%", "_", "\\", "' OR 1=1 --", "Anna%"])
def test_search_terms_are_text_never_patterns_or_sql(world, term):
    register_patient(world.api(), full_name="Anna Smith")

    response = world.api().get(URL, {"search": term})

    assert response.status_code == 200, response.content
    assert response.json() == {"items": [], "count": 0}


def test_a_body_over_the_upload_limit_is_413_and_writes_nothing(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = patient_body(address="a" * 20_000)
    before = _written(world)

    plain = world.api().post(URL, body)
    keyed = world.api().post(URL, body, headers={"Idempotency-Key": "big"})

    _error(plain, 413, "payload_too_large")
    _error(keyed, 413, "payload_too_large")
    assert _written(world) == before
    assert not IdempotentRequest.objects.exists()


# --- unknown paths and methods --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/nope/", "/api/patients/x/y/z/", "/api/auth/", "/api/", "/api/v2/patients/"],
)
@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
def test_an_unknown_path_under_api_is_404_with_the_error_body(world, path, signed_in):
    client = world.api() if signed_in else Client()

    response = client.get(path)

    _error(response, 404, "not_found")
    assert response["X-Request-ID"]


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "no-debug"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/patients"),
        ("get", "/api/patients"),
        ("post", "/api/auth/token"),
        ("patch", "/api/patients/{id}"),
        ("delete", "/api/patients/{id}"),
        ("post", "/api/encounters/{id}/check-in"),
    ],
)
def test_a_path_without_its_trailing_slash_is_404_not_found(world, settings, debug, method, path):
    # given DEBUG on or off (a redirected POST raised RuntimeError under DEBUG: a 500)
    settings.DEBUG = debug
    before = _written(world)

    # when
    response = getattr(world.api(), method)(path.format(id=uuid.uuid4()))

    # then the contract's 404, never a 500 or a redirect that drops the body
    _error(response, 404, "not_found")
    assert _written(world) == before


def test_the_admin_still_appends_its_slash(world):
    assert Client().get("/admin").status_code == 301


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/api/patients/", {"GET", "POST"}),
        ("delete", "/api/patients/", {"GET", "POST"}),
        ("put", "/api/patients/{id}/", {"GET", "PATCH", "DELETE"}),
        ("get", "/api/patients/{id}/restore/", {"POST"}),
        ("post", "/api/patients/{id}/timeline/", {"GET"}),
        ("get", "/api/auth/token/", {"POST"}),
        ("post", "/api/auth/me/", {"GET"}),
        ("delete", "/api/audit/events/", {"GET"}),
    ],
)
def test_a_wrong_method_is_405_method_not_allowed_with_the_error_body(world, method, path, allowed):
    # given
    api = world.api()
    patient = register_patient(api)
    before = _written(world)

    # when
    url = path.format(id=patient["id"])
    response = api.get(url) if method == "get" else api._call(method, url, "{}")

    # then
    _error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response["Allow"].split(",")} == allowed
    assert _written(world) == before


# --- server errors --------------------------------------------------------------------------


def test_an_unexpected_exception_is_500_internal_error_without_a_trace(world, monkeypatch):
    # given
    patient = register_patient(world.api())

    def explode(**kwargs):
        raise RuntimeError("secret connection string postgres://u:p@db")

    monkeypatch.setattr(patient_services, "patient_view", explode)

    # when
    response = world.api().get(f"/api/patients/{patient['id']}/")

    # then
    error = _error(response, 500, "internal_error")
    assert error["details"] is None
    text = response.content.decode()
    assert "Traceback" not in text and "secret" not in text and "RuntimeError" not in text
    assert response["X-Request-ID"]


def test_a_failing_write_is_500_and_leaves_nothing_behind(world, monkeypatch):
    # given: the service crashes after the event, read model and audit record were written
    monkeypatch.setattr(patient_services, "publish", _failing_publish(patient_services.publish))
    before = _written(world)

    # when
    response = world.api().post(URL, patient_body(), headers={"Idempotency-Key": "crash"})

    # then
    _error(response, 500, "internal_error")
    assert _written(world) == before
    assert not AuditRecord.all_tenants.filter(tenant_id=world.tenant.id).exists()
    assert not IdempotentRequest.objects.filter(key="crash").exists()


def _failing_publish(publish):
    """Publish for real, then fail: the command's transaction must roll everything back."""

    def run(**kwargs):
        publish(**kwargs)
        raise RuntimeError("crash after the append")

    return run


# --- request ids ----------------------------------------------------------------------------


def _responses_of_every_kind(world, monkeypatch, headers: dict) -> list:
    api = world.api()
    patient = register_patient(api)

    def explode(**kwargs):
        raise RuntimeError("boom")

    responses = [
        api.get(URL, headers=headers),  # 200
        api.post(URL, patient_body(), headers=headers),  # 201
        api.delete(f"/api/patients/{register_patient(api)['id']}/", headers=headers),  # 204
        api.post(URL, "{", headers=headers),  # 400
        Client().get(URL, headers=headers),  # 401
        world.api("lab_tech").get(URL, headers=headers),  # 403
        api.get(f"/api/patients/{uuid.uuid4()}/", headers=headers),  # 404
        api.get("/api/nope/", headers=headers),  # 404 outside Ninja
        api._call("put", URL, "{}", headers=headers),  # 405
        api.post(URL, patient_body(mrn=patient["mrn"]), headers=headers),  # 409
        api.patch(f"/api/patients/{patient['id']}/", {"x": 1}, headers=headers),  # 422
        Client().get("/api/health/", headers=headers),  # 200 without auth
    ]
    monkeypatch.setattr(patient_services, "patient_view", explode)
    responses.append(api.get(f"/api/patients/{patient['id']}/", headers=headers))  # 500
    return responses


def test_every_response_carries_a_generated_request_id(world, monkeypatch):
    responses = _responses_of_every_kind(world, monkeypatch, {})

    assert [r.status_code for r in responses] == [
        200, 201, 204, 400, 401, 403, 404, 404, 405, 409, 422, 200, 500,
    ]  # fmt: skip
    ids = [r["X-Request-ID"] for r in responses]
    assert all(uuid.UUID(value) for value in ids)
    assert len(set(ids)) == len(ids)


def test_a_sent_request_id_is_echoed_on_every_response(world, monkeypatch):
    responses = _responses_of_every_kind(world, monkeypatch, {"X-Request-ID": "req-abc.123"})

    assert {r["X-Request-ID"] for r in responses} == {"req-abc.123"}


@pytest.mark.parametrize(
    "sent",
    ["x" * 129, "has space", "tab\there", "ünïcode"],
    ids=["129", "space", "tab", "non-ascii"],
)
def test_an_unusable_request_id_is_replaced_by_a_generated_one(world, sent):
    response = world.api().get(URL, headers={"X-Request-ID": sent})

    assert response["X-Request-ID"] != sent
    assert uuid.UUID(response["X-Request-ID"])


def test_the_request_id_is_stored_on_every_event_and_audit_record_of_the_request(world):
    # given
    api = world.api()
    headers = {"X-Request-ID": "trace-4711"}

    # when
    created = api.post(URL, patient_body(), headers=headers).json()
    api.get(f"/api/patients/{created['id']}/", headers=headers)

    # then
    [event] = Event.objects.filter(tenant_id=world.tenant.id)
    assert event.request_id == "trace-4711"
    records = AuditRecord.all_tenants.filter(tenant_id=world.tenant.id)
    assert sorted(r.action for r in records) == ["patient.registered", "patient.viewed"]
    assert {r.request_id for r in records} == {"trace-4711"}


def test_a_generated_request_id_is_stored_on_the_event_too(world):
    response = world.api().post(URL, patient_body())

    [event] = Event.objects.filter(tenant_id=world.tenant.id)
    assert event.request_id == response["X-Request-ID"]


def test_a_post_without_token_or_body_is_401_with_the_error_body(world):
    response = Client().generic("POST", URL, headers={"Accept": "application/json"})

    assert json.loads(response.content)["error"]["code"] == "not_authenticated"


def test_an_unmapped_integrity_error_is_409_conflict_not_500(world, monkeypatch):
    # given: a unique violation no service mapped (a concurrent writer won at the flush)
    def collides(**kwargs):
        raise IntegrityError('duplicate key value violates unique constraint "x_uniq"')

    monkeypatch.setattr("hm_core.patients.services.patient_register", collides)

    # when
    response = world.api("nurse").post(
        "/api/patients/",
        {"full_name": "Ada Lovelace", "mrn": "M-1", "date_of_birth": "1985-12-10", "gender": "F"},
    )

    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
