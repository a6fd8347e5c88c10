"""Tasks over HTTP (contract §5): work a task, who may, illegal moves, filters, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.common.scope import scope_active
from hm_core.events.models import Event
from hm_core.tasks import services as tasks
from hm_core.tasks.models import Task
from tests.encounters.conftest import error_of, event_count, make_encounter


@pytest.fixture
def nurse(world):
    return world.api("nurse")


@pytest.fixture
def doctor(world):
    return world.api("doctor")


def vitals_task_id(world, enc) -> str:
    scope = world.scope("admin")
    with scope_active(scope):
        return str(Task.objects.for_scope(scope).get(encounter_id=enc.id, kind="record_vitals").id)


@pytest.fixture
def task_id(world) -> str:
    """The OPEN record_vitals task of a checked-in visit."""
    return vitals_task_id(world, make_encounter(world, "CHECKED_IN"))


def url(task_id: str, action: str = "") -> str:
    return f"/api/tasks/{task_id}/" + (f"{action}/" if action else "")


def bring(world, task_id: str, status: str, role: str = "nurse") -> None:
    """Move the task to `status` as `role`, through the services."""
    scope = world.scope(role)
    if status in ("CLAIMED", "IN_PROGRESS", "DONE"):
        tasks.task_claim(scope=scope, task_id=task_id)
    if status in ("IN_PROGRESS", "DONE"):
        tasks.task_start(scope=scope, task_id=task_id)
    if status == "DONE":
        tasks.task_complete(scope=scope, task_id=task_id)
    if status == "CANCELLED":
        tasks.task_cancel(scope=scope, task_id=task_id, reason="test")


# --- a nurse works a task ------------------------------------------------------------------


def test_task_detail_has_etag(world, nurse, task_id):
    r = nurse.get(url(task_id))

    assert r.status_code == 200
    body = r.json()
    assert (body["kind"], body["queue"], body["status"]) == ("record_vitals", "nursing", "OPEN")
    assert body["facility_id"] == str(world.main.id)
    assert r["ETag"] == '"1"' and body["version"] == 1


def test_a_nurse_claims_starts_and_completes_a_task(world, nurse, task_id):
    # when / then
    r = nurse.post(url(task_id, "claim"))
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CLAIMED" and r["ETag"] == '"2"'
    assert r.json()["assignee_id"] == str(world.users["nurse"].id)
    assert r.json()["assignee_username"] == "nurse@acme"

    r = nurse.post(url(task_id, "start"))
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "IN_PROGRESS" and r["ETag"] == '"3"'

    r = nurse.post(url(task_id, "complete"))
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "DONE" and r["ETag"] == '"4"'
    assert r.json()["completed_at"] is not None

    events = Event.objects.filter(stream_id=task_id).order_by("stream_version")
    assert [(e.type, e.stream_type, e.actor_username) for e in events] == [
        ("task.created", "task", "system"),
        ("task.claimed", "task", "nurse@acme"),
        ("task.started", "task", "nurse@acme"),
        ("task.completed", "task", "nurse@acme"),
    ]
    assert events.last().payload["by_workflow"] is False


@pytest.mark.parametrize(("held", "action"), [("CLAIMED", "start"), ("IN_PROGRESS", "complete")])
def test_only_the_assignee_may_start_or_complete(world, doctor, task_id, held, action):
    # given the nurse holds the task
    bring(world, task_id, held, role="nurse")
    before = event_count(world)

    # when the doctor tries
    r = doctor.post(url(task_id, action))

    # then
    assert r.status_code == 403
    assert error_of(r)["code"] == "not_assignee"
    assert event_count(world) == before
    assert doctor.get(url(task_id)).json()["status"] == held


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("OPEN", "start"),
        ("OPEN", "complete"),
        ("CLAIMED", "claim"),
        ("CLAIMED", "complete"),
        ("IN_PROGRESS", "claim"),
        ("IN_PROGRESS", "start"),
        ("DONE", "claim"),
        ("DONE", "start"),
        ("DONE", "complete"),
        ("DONE", "cancel"),
        ("CANCELLED", "claim"),
        ("CANCELLED", "start"),
        ("CANCELLED", "complete"),
        ("CANCELLED", "cancel"),
    ],
)
def test_illegal_task_transition_is_409_naming_the_state(world, nurse, task_id, status, action):
    # given
    bring(world, task_id, status, role="nurse")
    before = event_count(world)

    # when
    r = nurse.post(url(task_id, action))

    # then
    assert r.status_code == 409, r.json()
    assert error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["from"] == status
    assert event_count(world) == before


def test_a_task_claimed_by_someone_else_cannot_be_claimed_again(world, doctor, task_id):
    bring(world, task_id, "CLAIMED", role="nurse")

    r = doctor.post(url(task_id, "claim"))

    assert r.status_code == 409 and error_of(r)["details"]["from"] == "CLAIMED"
    assert doctor.get(url(task_id)).json()["assignee_username"] == "nurse@acme"


@pytest.mark.parametrize("status", ["OPEN", "CLAIMED", "IN_PROGRESS"])
def test_cancel_with_a_reason(world, nurse, task_id, status):
    bring(world, task_id, status, role="nurse")

    r = nurse.post(url(task_id, "cancel"), {"reason": "Duplicate request"})

    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CANCELLED"
    last = Event.objects.filter(stream_id=task_id).order_by("stream_version").last()
    assert last.type == "task.cancelled" and last.payload["reason"] == "Duplicate request"


@pytest.mark.parametrize("body", ["", "{}"], ids=["no-body", "empty-object"])
def test_cancel_without_a_reason(world, nurse, task_id, body):
    r = nurse.post(url(task_id, "cancel"), body)

    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CANCELLED"
    last = Event.objects.filter(stream_id=task_id).order_by("stream_version").last()
    assert last.type == "task.cancelled" and last.payload["reason"] == ""


def test_cancel_with_an_unknown_field_is_422(world, nurse, task_id):
    before = event_count(world)

    r = nurse.post(url(task_id, "cancel"), {"why": "dup"})

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == ["why"]
    assert event_count(world) == before


def test_stale_if_match_on_a_task_is_412(world, nurse, task_id):
    bring(world, task_id, "CLAIMED", role="nurse")

    r = nurse.post(url(task_id, "start"), headers={"If-Match": '"1"'})

    assert r.status_code == 412 and error_of(r)["code"] == "version_mismatch"
    assert nurse.post(url(task_id, "start"), headers={"If-Match": '"2"'}).status_code == 200


def test_an_unknown_task_is_404(nurse):
    r = nurse.get(url("7d7d7d7d-0000-4000-8000-000000000000"))

    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


# --- list filters --------------------------------------------------------------------------


@pytest.fixture
def queues(world):
    """Two visits: A has a DONE vitals task and an OPEN consult; B an OPEN vitals task that
    the nurse claimed; C an OPEN vitals task the doctor claimed."""
    a = make_encounter(world, "VITALS")
    b = make_encounter(world, "CHECKED_IN")
    c = make_encounter(world, "CHECKED_IN")
    bring(world, vitals_task_id(world, b), "CLAIMED", role="nurse")
    bring(world, vitals_task_id(world, c), "CLAIMED", role="doctor")
    return a, b, c


def listed(api, **params):
    r = api.get("/api/tasks/", params)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["count"] == len(body["items"])
    return sorted((t["kind"], t["status"], t["encounter_id"]) for t in body["items"])


def test_task_list_filters(world, nurse, doctor, queues):
    a, b, c = (str(e.id) for e in queues)

    assert len(listed(nurse)) == 4
    assert listed(nurse, status="OPEN") == [("consult", "OPEN", a)]
    assert listed(nurse, status="DONE") == [("record_vitals", "DONE", a)]
    assert listed(nurse, queue="doctor") == [("consult", "OPEN", a)]
    assert listed(nurse, queue="nursing", status="CLAIMED") == sorted(
        [("record_vitals", "CLAIMED", b), ("record_vitals", "CLAIMED", c)]
    )
    assert listed(nurse, assignee="me") == [("record_vitals", "CLAIMED", b)]
    assert listed(doctor, assignee="me") == [("record_vitals", "CLAIMED", c)]
    assert listed(world.api("admin"), assignee="me") == []
    assert listed(nurse, encounter=a) == [("consult", "OPEN", a), ("record_vitals", "DONE", a)]
    assert listed(nurse, encounter=a, status="OPEN", queue="doctor") == [("consult", "OPEN", a)]
    assert listed(nurse, queue="lab") == []


def test_task_list_is_oldest_first_and_paged(world, nurse, queues):
    r = nurse.get("/api/tasks/", {"limit": 2, "offset": 1})

    assert r.status_code == 200
    assert r.json()["count"] == 4 and len(r.json()["items"]) == 2
    everything = nurse.get("/api/tasks/").json()["items"]
    assert [t["id"] for t in r.json()["items"]] == [t["id"] for t in everything[1:3]]
    created = [t["created_at"] for t in everything]
    assert created == sorted(created)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "WAITING"}, "status"),
        ({"assignee": "nurse@acme"}, "assignee"),
        ({"encounter": "not-a-uuid"}, "encounter"),
        ({"limit": 201}, "limit"),
    ],
)
def test_task_list_refuses_bad_filters(nurse, params, field):
    r = nurse.get("/api/tasks/", params)

    assert r.status_code == 422
    assert [d["field"] for d in error_of(r)["details"]] == [field]


def _open_tasks(world, n):
    enc = make_encounter(world, "SCHEDULED")
    scope = world.scope("admin")
    for i in range(n):
        tasks.task_open(
            scope=scope,
            kind=f"k{i}",
            queue="nursing",
            title="Chore",
            encounter_id=enc.id,
            patient_id=enc.patient_id,
        )


def _queries_of_list(api) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = api.get("/api/tasks/", {"limit": 200})
    assert r.status_code == 200
    return len(ctx.captured_queries)


def test_task_list_query_count_does_not_grow_with_the_list(world, nurse):
    # given 3 tasks
    _open_tasks(world, 3)
    small = _queries_of_list(nurse)

    # when there are 30
    _open_tasks(world, 27)
    large = _queries_of_list(nurse)

    # then
    assert nurse.get("/api/tasks/").json()["count"] == 30
    assert large == small
