"""Contract §8: the audit trail (events and PHI reads) and the hash-chain check, for auditors."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.events.hashing import GENESIS_HASH
from hm_core.events.models import Event, TenantEventHead
from hm_core.iam.permissions import ROLES
from tests.patients.factories import register_patient

EVENTS_URL = "/api/audit/events/"
VERIFY_URL = "/api/audit/verify/"
CHECKPOINTS_URL = "/api/audit/checkpoints/"
RECORD_FIELDS = {
    "id",
    "kind",
    "action",
    "event_id",
    "position",
    "patient_id",
    "facility_id",
    "actor_id",
    "actor_username",
    "request_id",
    "ip",
    "user_agent",
    "occurred_at",
    "detail",
}


def _trail(world, **params) -> list[dict]:
    response = world.api("auditor").get(EVENTS_URL, params)
    assert response.status_code == 200, response.content
    return response.json()["items"]


def _actions(items) -> list[tuple[str, str]]:
    return [(item["kind"], item["action"]) for item in items]


@pytest.fixture
def history(world):
    """A nurse registers a patient, a doctor updates and reads it, the auditor reads its timeline."""
    patient = register_patient(world.api("nurse"), full_name="Anna Smith")
    world.api("doctor").patch(f"/api/patients/{patient['id']}/", {"full_name": "Anna Jones"})
    assert world.api("doctor").get(f"/api/patients/{patient['id']}/").status_code == 200
    timeline = world.api("auditor").get(f"/api/patients/{patient['id']}/timeline/")
    assert timeline.status_code == 200
    return patient


# --- the trail ------------------------------------------------------------------------------


def test_the_trail_holds_every_event_and_every_read_of_patient_data_newest_first(world, history):
    # when
    response = world.api("auditor").get(EVENTS_URL)

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "count"} and body["count"] == 4
    items = body["items"]
    assert all(set(item) == RECORD_FIELDS for item in items)
    assert _actions(items) == [
        ("read", "patient.timeline_viewed"),
        ("read", "patient.viewed"),
        ("event", "patient.updated"),
        ("event", "patient.registered"),
    ]
    assert [i["actor_username"] for i in items] == [
        "auditor@acme",
        "doctor@acme",
        "doctor@acme",
        "nurse@acme",
    ]
    assert {i["patient_id"] for i in items} == {history["id"]}
    assert {i["facility_id"] for i in items} == {str(world.main.id)}
    times = [datetime.fromisoformat(i["occurred_at"]) for i in items]
    assert times == sorted(times, reverse=True)


def test_an_event_record_points_at_its_stored_event(world, history):
    registered = _trail(world)[-1]

    event = Event.objects.get(id=registered["event_id"])
    assert event.type == "patient.registered"
    assert registered["position"] == event.position
    assert registered["actor_id"] == str(event.actor_id) == str(world.users["nurse"].id)
    assert registered["request_id"] == event.request_id
    assert registered["detail"] == {"stream": {"type": "patient", "id": history["id"]}}


def test_a_read_record_has_no_event(world, history):
    viewed = _trail(world)[1]

    assert viewed["action"] == "patient.viewed"
    assert viewed["event_id"] is None and viewed["position"] is None
    assert viewed["actor_id"] == str(world.users["doctor"].id)


def test_a_phi_read_record_stores_ip_user_agent_and_request_id(world):
    # given
    patient = register_patient(world.api())
    api = world.api("doctor")

    # when
    response = api.client.get(
        f"/api/patients/{patient['id']}/",
        headers={
            **api.headers,
            "User-Agent": "WardTablet/2.1 (bed 12)",
            "X-Request-ID": "read-trace-1",
        },
        REMOTE_ADDR="10.20.30.40",
    )

    # then
    assert response.status_code == 200
    [read] = [i for i in _trail(world) if i["kind"] == "read"]
    assert read["action"] == "patient.viewed" and read["patient_id"] == patient["id"]
    assert read["ip"] == "10.20.30.40"
    assert read["user_agent"] == "WardTablet/2.1 (bed 12)"
    assert read["request_id"] == "read-trace-1"


def test_a_refused_or_missing_read_leaves_no_read_record(world):
    patient = register_patient(world.api())

    world.api("lab_tech").get(f"/api/patients/{patient['id']}/")
    world.api("receptionist").get(f"/api/patients/{patient['id']}/timeline/")
    world.api().get(f"/api/patients/{uuid.uuid4()}/")

    assert [i["kind"] for i in _trail(world)] == ["event"]


# --- filters --------------------------------------------------------------------------------


def test_the_patient_filter_keeps_that_patients_records(world, history):
    other = register_patient(world.api(), full_name="Other Patient")
    world.api().get(f"/api/patients/{other['id']}/")

    items = _trail(world, patient=other["id"])

    assert _actions(items) == [("read", "patient.viewed"), ("event", "patient.registered")]
    assert len(_trail(world, patient=history["id"])) == 4


def test_the_actor_filter_keeps_that_users_records(world, history):
    items = _trail(world, actor=str(world.users["doctor"].id))

    assert _actions(items) == [("read", "patient.viewed"), ("event", "patient.updated")]
    assert _trail(world, actor=str(uuid.uuid4())) == []


def test_since_and_until_bound_the_records_by_time(world, history):
    # given: four records, newest first; bound at the second and third ones
    items = _trail(world)
    newer, older = items[1], items[2]

    # when
    since = _trail(world, since=newer["occurred_at"])
    until = _trail(world, until=older["occurred_at"])
    window = _trail(world, since=older["occurred_at"], until=items[0]["occurred_at"])

    # then
    assert {i["id"] for i in since} >= {items[0]["id"], newer["id"]}
    assert not {i["id"] for i in since} & {older["id"], items[3]["id"]}
    assert items[3]["id"] in {i["id"] for i in until}
    assert not {i["id"] for i in until} & {items[0]["id"], newer["id"]}
    assert {newer["id"], older["id"]} <= {i["id"] for i in window}
    assert items[3]["id"] not in {i["id"] for i in window}


def test_filters_combine(world, history):
    items = _trail(world, patient=history["id"], actor=str(world.users["nurse"].id))
    assert _actions(items) == [("event", "patient.registered")]


@pytest.mark.parametrize(
    "params",
    [{"patient": "nope"}, {"actor": "42"}, {"since": "yesterday"}, {"until": "2024-13-01"}],
    ids=["patient", "actor", "since", "until"],
)
def test_malformed_filters_are_422(world, params):
    response = world.api("auditor").get(EVENTS_URL, params)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == list(params)


def test_the_trail_pages_with_limit_and_offset(world, history):
    first = world.api("auditor").get(EVENTS_URL, {"limit": 3}).json()
    second = world.api("auditor").get(EVENTS_URL, {"limit": 3, "offset": 3}).json()

    assert first["count"] == second["count"] == 4
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert second["items"][0]["action"] == "patient.registered"
    assert world.api("auditor").get(EVENTS_URL, {"limit": 201}).status_code == 422


def test_the_trail_query_count_does_not_grow_with_its_size(world):
    api = world.api()
    patient = register_patient(api)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert world.api("auditor").get(EVENTS_URL).status_code == 200
        return len(ctx.captured_queries)

    small = queries()
    for _ in range(30):
        api.get(f"/api/patients/{patient['id']}/")

    assert queries() == small


# --- who may read it ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [EVENTS_URL, VERIFY_URL, CHECKPOINTS_URL])
@pytest.mark.parametrize("role", [*ROLES, "lab_tech2"])
def test_only_auditors_and_admins_may_read_the_trail_and_verify_the_chain(world, role, url):
    response = world.api(role).get(url)

    if role in ("auditor", "admin"):
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_another_tenants_records_are_never_visible(world, other_world, history):
    # given: the rival tenant has its own patient, reads and actors
    rival = register_patient(other_world.api(), full_name="Rita Rival")
    other_world.api().get(f"/api/patients/{rival['id']}/")
    rival_actor = str(other_world.users["admin"].id)

    # when
    everything = world.api("auditor").get(EVENTS_URL).json()
    by_patient = world.api("auditor").get(EVENTS_URL, {"patient": rival["id"]}).json()
    by_actor = world.api("auditor").get(EVENTS_URL, {"actor": rival_actor}).json()

    # then
    assert everything["count"] == 4
    assert {i["patient_id"] for i in everything["items"]} == {history["id"]}
    assert by_patient == {"items": [], "count": 0}
    assert by_actor == {"items": [], "count": 0}
    rivals = other_world.api("auditor").get(EVENTS_URL).json()
    assert {i["patient_id"] for i in rivals["items"]} == {rival["id"]}


def test_the_trail_is_tenant_wide_across_facilities(world):
    register_patient(world.api("doctor", facility=world.annex))

    items = _trail(world)

    assert [i["facility_id"] for i in items] == [str(world.annex.id)]


# --- chain verification ---------------------------------------------------------------------


def test_verify_recomputes_the_tenants_chain(world, other_world, history):
    # given
    register_patient(other_world.api())

    # when
    response = world.api("auditor").get(VERIFY_URL)

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    head = TenantEventHead.objects.get(tenant_id=world.tenant.id)
    assert body["ok"] is True
    assert body["events_checked"] == Event.objects.filter(tenant_id=world.tenant.id).count() == 2
    assert body["head_hash"] == head.hash
    assert body["checkpoint"] is None  # none signed yet
    assert body.get("first_broken") is None


def test_verify_of_a_tenant_without_events_is_ok(world):
    body = world.api("auditor").get(VERIFY_URL).json()

    assert body["ok"] is True and body["events_checked"] == 0
    assert body["head_hash"] == GENESIS_HASH


def test_verify_needs_a_scope(world):
    response = world.api("auditor", facility=world.annex).get(VERIFY_URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_forbidden"


# --- signed checkpoints (§18) -------------------------------------------------------------


@pytest.fixture
def checkpoint_dir(settings, tmp_path):
    settings.CHAIN_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


def test_checkpoints_lists_the_tenants_signed_heads_newest_first(
    world, other_world, history, checkpoint_dir
):
    # given two checkpoints of this tenant and one of another
    call_command("checkpoint_chain", "--tenant", "acme")
    register_patient(world.api(), full_name="Bea Brown")
    register_patient(other_world.api())
    call_command("checkpoint_chain")

    # when
    response = world.api("auditor").get(CHECKPOINTS_URL)

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert [c["position"] for c in body["items"]] == [3, 2]
    assert {c["tenant_id"] for c in body["items"]} == {str(world.tenant.id)}
    on_disk = json.loads((checkpoint_dir / str(world.tenant.id) / f"{3:020d}.json").read_text())
    assert body["items"][0] == on_disk
    paged = world.api("auditor").get(CHECKPOINTS_URL, {"limit": 1, "offset": 1}).json()
    assert paged == {"items": [body["items"][1]], "count": 2}
    assert world.api("auditor").get(CHECKPOINTS_URL, {"when": "now"}).status_code == 422


def test_verify_reports_the_latest_checkpoint(world, history, checkpoint_dir):
    call_command("checkpoint_chain")
    register_patient(world.api(), full_name="Bea Brown")

    body = world.api("auditor").get(VERIFY_URL).json()

    assert body["ok"] is True and body["events_checked"] == 3
    assert body["checkpoint"] == {"position": 2, "ok": True}


def test_verify_fails_when_the_checkpointed_tail_is_gone(world, history, checkpoint_dir):
    # given a checkpoint at position 2, then the superuser cuts event 2 and fixes the head up
    call_command("checkpoint_chain")
    first = Event.objects.get(tenant_id=world.tenant.id, position=1)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE events_event DISABLE TRIGGER events_event_immutable")
        else:
            cursor.execute("DROP TRIGGER events_event_no_delete")
        cursor.execute(
            "DELETE FROM events_event WHERE tenant_id = %s AND position = 2",
            [str(world.tenant.id) if connection.vendor == "postgresql" else world.tenant.id.hex],
        )
    TenantEventHead.objects.filter(tenant_id=world.tenant.id).update(position=1, hash=first.hash)

    # when
    body = world.api("auditor").get(VERIFY_URL).json()

    # then
    assert body["ok"] is False and body["events_checked"] == 1
    assert body["checkpoint"] == {"position": 2, "ok": False}
    assert body["first_broken"]["reason"] == "chain ends before the signed checkpoint"
