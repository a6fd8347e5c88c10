"""Idempotency-Key on POST (contract §1): replay, reuse, invalid keys, storage, scoping, races."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection

from hm_core.common.crypto import decrypt_bytes
from hm_core.common.time import utcnow
from hm_core.events.models import Event
from hm_core.iam.services import membership_grant
from hm_core.idempotency.models import IdempotentRequest
from hm_core.patients import services as patient_services
from hm_core.patients.models import Patient
from tests.conftest import Api
from tests.patients.factories import patient_body, register_patient

URL = "/api/patients/"


def _key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def _counts(world) -> tuple[int, int]:
    return (
        Event.objects.filter(tenant_id=world.tenant.id).count(),
        Patient.all_tenants.filter(tenant_id=world.tenant.id).count(),
    )


# --- replay ---------------------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_first_response_and_writes_once(world):
    # given
    api = world.api()
    body = patient_body()
    first = api.post(URL, body, headers=_key("register-1"))
    assert first.status_code == 201, first.content

    # when
    second = api.post(URL, body, headers=_key("register-1"))

    # then
    assert "Idempotent-Replayed" not in first
    assert second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert second["ETag"] == first["ETag"] == '"1"'
    assert second["X-Request-ID"] and second["X-Request-ID"] != first["X-Request-ID"]
    assert _counts(world) == (1, 1)
    assert Event.objects.get(tenant_id=world.tenant.id).type == "patient.registered"


def test_a_replay_ignores_json_spacing_and_key_order(world):
    api = world.api()
    body = patient_body()
    first = api.post(URL, json.dumps(body), headers=_key("k"))

    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)
    second = api.post(URL, reordered, headers=_key("k"))

    assert second.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert _counts(world) == (1, 1)


def test_an_error_response_is_replayed_too(world):
    # given: the first answer is a 409 because the MRN is taken
    api = world.api()
    register_patient(api, mrn="MRN-TAKEN")
    body = patient_body(mrn="MRN-TAKEN")
    first = api.post(URL, body, headers=_key("dup"))
    assert first.status_code == 409

    # when
    second = api.post(URL, body, headers=_key("dup"))

    # then
    assert second.status_code == 409 and second.content == first.content
    assert second["Idempotent-Replayed"] == "true"


def test_a_replay_works_on_an_action_endpoint(world):
    api = world.api()
    patient = register_patient(api)
    api.delete(f"/api/patients/{patient['id']}/")
    url = f"/api/patients/{patient['id']}/restore/"

    first = api.post(url, {}, headers=_key("restore-1"))
    second = api.post(url, {}, headers=_key("restore-1"))

    assert first.status_code == second.status_code == 200
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert Event.objects.filter(stream_id=patient["id"], type="patient.restored").count() == 1


def test_without_a_key_every_post_runs(world):
    api = world.api()
    body = patient_body()

    assert api.post(URL, body).status_code == 201
    assert api.post(URL, body).json()["error"]["code"] == "duplicate_mrn"


# --- reuse ----------------------------------------------------------------------------------


def test_the_same_key_with_another_body_is_422_and_writes_nothing(world):
    # given
    api = world.api()
    api.post(URL, patient_body(full_name="First Body"), headers=_key("k"))
    before = _counts(world)

    # when
    response = api.post(URL, patient_body(full_name="Second Body"), headers=_key("k"))

    # then
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert "Idempotent-Replayed" not in response
    assert _counts(world) == before


def test_the_same_key_on_another_path_is_422(world):
    api = world.api()
    patient = register_patient(api)
    api.delete(f"/api/patients/{patient['id']}/")
    api.post(URL, patient_body(), headers=_key("k"))
    before = _counts(world)

    response = api.post(f"/api/patients/{patient['id']}/restore/", {}, headers=_key("k"))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert _counts(world) == before


# --- invalid keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 256, id="256-characters"),
        pytest.param("clé-à-usage-unique", id="non-ascii"),
        pytest.param("", id="empty"),
    ],
)
def test_an_invalid_key_is_422_and_nothing_runs(world, key):
    api = world.api()

    response = api.post(URL, patient_body(), headers=_key(key))

    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == [
        {"field": "Idempotency-Key", "message": "must be 1-255 printable ASCII characters"}
    ]
    assert _counts(world) == (0, 0)
    assert not IdempotentRequest.objects.exists()


@pytest.mark.parametrize(
    "key", ["k" * 255, "a", "order 42/attempt #1 ~!"], ids=["255", "1", "punct"]
)
def test_keys_of_1_to_255_printable_ascii_characters_are_accepted(world, key):
    api = world.api()
    body = patient_body()

    assert api.post(URL, body, headers=_key(key)).status_code == 201
    assert api.post(URL, body, headers=_key(key))["Idempotent-Replayed"] == "true"


# --- storage --------------------------------------------------------------------------------


def test_the_stored_response_survives_in_the_database_and_replays_to_a_fresh_client(world):
    # given
    body = patient_body()
    first = world.api().post(URL, body, headers=_key("durable"))

    # when: read back from the database, then replayed to a brand-new client and token
    record = IdempotentRequest.objects.get(key="durable")
    fresh = Api(world.users["admin"], world.tenant.id, world.main.id)
    replay = fresh.post(URL, body, headers=_key("durable"))

    # then
    assert record.tenant_id == world.tenant.id and record.user_id == world.users["admin"].id
    assert (record.method, record.path) == ("POST", URL)
    assert record.status_code == 201 and record.completed_at is not None
    # stored encrypted: a replayable answer holds PHI (contract §18)
    assert first.content not in bytes(record.response_body)
    assert decrypt_bytes(bytes(record.response_body)) == first.content
    assert record.headers == {"ETag": '"1"'}
    assert replay.status_code == 201 and replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"


def test_a_server_error_releases_the_key_so_that_the_client_may_retry(world, monkeypatch):
    # given
    api = world.api()
    body = patient_body()

    def explode(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(patient_services, "patient_register", explode)
    failed = api.post(URL, body, headers=_key("retry"))
    monkeypatch.undo()

    # when
    retried = api.post(URL, body, headers=_key("retry"))

    # then
    assert failed.status_code == 500
    assert not IdempotentRequest.objects.filter(key="retry", completed_at__isnull=True).exists()
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried


def test_a_key_older_than_24_hours_starts_afresh(world):
    api = world.api()
    api.post(URL, patient_body(full_name="Yesterday"), headers=_key("old"))
    record = IdempotentRequest.objects.get(key="old")
    IdempotentRequest.objects.filter(pk=record.pk).update(
        created_at=record.created_at - timedelta(hours=25)
    )

    response = api.post(URL, patient_body(full_name="Today"), headers=_key("old"))

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert _counts(world) == (2, 2)


def test_a_get_ignores_the_key(world):
    api = world.api()
    register_patient(api)

    first = api.get(URL, headers=_key("k"))
    register_patient(api)
    second = api.get(URL, headers=_key("k"))

    assert first.json()["count"] == 1 and second.json()["count"] == 2
    assert "Idempotent-Replayed" not in second


# --- keys belong to a user in a tenant ------------------------------------------------------


def test_keys_are_per_user(world):
    # given
    world.api("admin").post(URL, patient_body(full_name="By Admin"), headers=_key("shared"))

    # when: another user sends the same key with another body
    response = world.api("doctor").post(
        URL, patient_body(full_name="By Doctor"), headers=_key("shared")
    )

    # then
    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response
    assert _counts(world) == (2, 2)


def test_keys_are_per_tenant(world, other_world):
    # given: one person who is an admin in both tenants
    admin = world.users["admin"]
    membership_grant(user=admin, facility=other_world.main, roles=["admin"])
    body = patient_body()
    here = Api(admin, world.tenant.id, world.main.id).post(URL, body, headers=_key("k"))

    # when
    there = Api(admin, other_world.tenant.id, other_world.main.id).post(
        URL, body, headers=_key("k")
    )

    # then
    assert here.status_code == there.status_code == 201
    assert "Idempotent-Replayed" not in there
    assert there.json()["id"] != here.json()["id"]
    assert Patient.all_tenants.filter(tenant_id=other_world.tenant.id).count() == 1


# --- concurrency ----------------------------------------------------------------------------


def _in_thread(target, results: list, lock: threading.Lock) -> threading.Thread:
    def run():
        try:
            outcome: object = target()
        except Exception as exc:  # collected and asserted on by the test
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_second_request_while_the_first_is_running_is_409_in_use(world, monkeypatch):
    # given: the first request stops inside the service until released
    entered, release = threading.Event(), threading.Event()
    original = patient_services.patient_register

    def slow_register(**kwargs):
        entered.set()
        assert release.wait(timeout=30)
        return original(**kwargs)

    monkeypatch.setattr(patient_services, "patient_register", slow_register)
    body = patient_body()
    results: list = []
    lock = threading.Lock()
    first = _in_thread(lambda: world.api().post(URL, body, headers=_key("race")), results, lock)
    assert entered.wait(timeout=30)

    # when
    try:
        concurrent = world.api().post(URL, body, headers=_key("race"))
    finally:
        release.set()
        first.join(timeout=30)
        connection.close()

    # then
    assert concurrent.status_code == 409, concurrent.content
    assert concurrent.json()["error"]["code"] == "idempotency_key_in_use"
    [winner] = results
    assert winner.status_code == 201, winner.content
    replay = world.api().post(URL, body, headers=_key("race"))
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.content == winner.content
    assert _counts(world) == (1, 1)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_racing_requests_with_one_key_create_one_patient(world):
    # given
    body = patient_body()
    barrier = threading.Barrier(2)
    results: list = []
    lock = threading.Lock()

    def send():
        api = world.api()
        barrier.wait(timeout=30)
        return api.post(URL, body, headers=_key("race"))

    # when
    threads = [_in_thread(send, results, lock) for _ in range(2)]
    for thread in threads:
        thread.join(timeout=60)

    # then
    assert len(results) == 2 and all(not isinstance(r, Exception) for r in results), results
    created = [r for r in results if r.status_code == 201 and "Idempotent-Replayed" not in r]
    others = [r for r in results if r not in created]
    assert len(created) == 1, [(r.status_code, r.content) for r in results]
    [other] = others
    if other.status_code == 409:
        assert other.json()["error"]["code"] == "idempotency_key_in_use"
    else:
        assert other.status_code == 201 and other["Idempotent-Replayed"] == "true"
        assert other.content == created[0].content
    assert _counts(world) == (1, 1)


# --- crashes ----------------------------------------------------------------------------------


class _WorkerDied(BaseException):
    """The process dies: not an Exception, so no handler turns it into a response."""


def test_a_crash_before_the_response_is_stored_never_lets_the_retry_write_twice(world, monkeypatch):
    # given: the worker dies after the view returned, before the response was stored
    from hm_core.idempotency import middleware

    api = world.api()
    body = patient_body()

    def die(request, response):
        raise _WorkerDied

    monkeypatch.setattr(middleware, "idempotency_complete", die)
    with pytest.raises(_WorkerDied):
        api.post(URL, body, headers=_key("crash"))
    monkeypatch.undo()
    # ...and the client retries long after any "stale claim" timeout
    IdempotentRequest.objects.update(created_at=utcnow() - timedelta(hours=1))

    # when
    retried = api.post(URL, body, headers=_key("crash"))
    again = api.post(URL, body, headers=_key("crash"))

    # then: the command and its claim committed together or not at all
    assert retried.status_code == 201, retried.content
    assert again["Idempotent-Replayed"] == "true" and again.content == retried.content
    assert _counts(world) == (1, 1)


def test_an_unfinished_claim_is_never_taken_over(world):
    # given: a claim left unfinished (by an older version) long ago; its work may have committed
    api = world.api()
    body = patient_body()
    api.post(URL, body, headers=_key("legacy"))
    IdempotentRequest.objects.filter(key="legacy").update(
        completed_at=None, status_code=None, created_at=utcnow() - timedelta(hours=1)
    )

    # when
    retried = api.post(URL, body, headers=_key("legacy"))

    # then
    assert retried.status_code == 409
    assert retried.json()["error"]["code"] == "idempotency_key_in_use"
    assert IdempotentRequest.objects.filter(key="legacy").exists()
    assert _counts(world) == (1, 1)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_claim_commits_in_the_same_transaction_as_the_command(world, monkeypatch):
    # given: the response is stored, then the commit itself fails
    from hm_core.idempotency import middleware

    original = middleware.idempotency_complete

    def complete_then_die(request, response):
        original(request, response)
        assert IdempotentRequest.objects.filter(key="atomic", completed_at__isnull=False).exists()
        raise _WorkerDied

    monkeypatch.setattr(middleware, "idempotency_complete", complete_then_die)

    # when
    with pytest.raises(_WorkerDied):
        world.api().post(URL, patient_body(), headers=_key("atomic"))
    connection.close()

    # then: neither the claim nor the patient outlived the crash
    assert not IdempotentRequest.objects.filter(key="atomic").exists()
    assert _counts(world) == (0, 0)
