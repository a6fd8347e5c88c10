"""The OPD workflow (tasks/policies.py): encounter events open, complete and cancel tasks.

Every task change is an event on the task's own stream, caused by the encounter event.
"""

from __future__ import annotations

import pytest

from hm_core.catalog.services import catalog_seed
from hm_core.common.scope import scope_active
from hm_core.encounters import services as encounters
from hm_core.events.models import Event
from hm_core.orders.services import order_place
from hm_core.tasks import services as tasks
from hm_core.tasks.models import Task
from hm_core.tasks.selectors import TaskFilters, task_list
from tests.encounters.conftest import NORMAL_VITALS, as_vitals, enc_url, make_encounter


def tasks_of(world, encounter_id) -> list[Task]:
    scope = world.scope("admin")
    with scope_active(scope):
        return list(task_list(scope=scope, filters=TaskFilters(encounter=encounter_id)))


def encounter_event(world, encounter_id, event_type) -> Event:
    return Event.objects.get(tenant_id=world.tenant.id, stream_id=encounter_id, type=event_type)


def task_events(world, task_id) -> list[Event]:
    return list(
        Event.objects.filter(tenant_id=world.tenant.id, stream_id=task_id).order_by(
            "stream_version"
        )
    )


def record_vitals(world, enc, role="nurse"):
    return encounters.encounter_record_vitals(
        scope=world.scope(role), encounter_id=enc.id, vitals=as_vitals(NORMAL_VITALS)
    )


def test_check_in_opens_a_record_vitals_task_in_the_nursing_queue(world):
    # when
    enc = make_encounter(world, "CHECKED_IN")

    # then
    (task,) = tasks_of(world, enc.id)
    assert (task.kind, task.queue, task.status) == ("record_vitals", "nursing", "OPEN")
    assert (task.encounter_id, task.patient_id) == (enc.id, enc.patient_id)
    assert task.assignee_id is None and task.version == 1
    (created,) = task_events(world, task.id)
    checked_in = encounter_event(world, enc.id, "encounter.checked_in")
    assert (created.type, created.stream_type, created.stream_version) == (
        "task.created",
        "task",
        1,
    )
    assert created.causation_id == checked_in.id
    assert created.actor_username == "system" and created.actor_id is None
    assert created.facility_id == world.main.id


def test_a_scheduled_encounter_has_no_task(world):
    enc = make_encounter(world, "SCHEDULED")

    assert tasks_of(world, enc.id) == []


def test_vitals_complete_the_vitals_task_and_open_the_consult_task(world):
    # given
    enc = make_encounter(world, "CHECKED_IN")

    # when
    record_vitals(world, enc)

    # then
    vitals_task, consult = tasks_of(world, enc.id)
    assert (vitals_task.kind, vitals_task.status) == ("record_vitals", "DONE")
    assert vitals_task.completed_at is not None
    assert (consult.kind, consult.queue, consult.status) == ("consult", "doctor", "OPEN")
    recorded = encounter_event(world, enc.id, "encounter.vitals_recorded")
    _, completed = task_events(world, vitals_task.id)
    assert (completed.type, completed.stream_type, completed.stream_version) == (
        "task.completed",
        "task",
        2,
    )
    assert completed.payload["by_workflow"] is True
    assert completed.causation_id == recorded.id
    (consult_created,) = task_events(world, consult.id)
    assert consult_created.type == "task.created" and consult_created.stream_type == "task"
    assert consult_created.causation_id == recorded.id


def test_vitals_complete_a_vitals_task_a_nurse_had_claimed(world):
    # given the nurse claimed and started the task
    enc = make_encounter(world, "CHECKED_IN")
    (task,) = tasks_of(world, enc.id)
    tasks.task_claim(scope=world.scope("nurse"), task_id=task.id)
    tasks.task_start(scope=world.scope("nurse"), task_id=task.id)

    # when
    record_vitals(world, enc)

    # then
    vitals_task, _ = tasks_of(world, enc.id)
    assert vitals_task.status == "DONE" and vitals_task.assignee_username == "nurse@acme"


def test_a_second_vitals_does_not_open_a_second_consult_task(world):
    # given
    enc = make_encounter(world, "VITALS")

    # when
    record_vitals(world, enc)

    # then
    kinds = [(t.kind, t.status) for t in tasks_of(world, enc.id)]
    assert kinds == [("record_vitals", "DONE"), ("consult", "OPEN")]


def test_a_second_vitals_leaves_a_claimed_consult_task_alone(world):
    enc = make_encounter(world, "VITALS")
    consult = tasks_of(world, enc.id)[1]
    tasks.task_claim(scope=world.scope("doctor"), task_id=consult.id)

    record_vitals(world, enc)

    assert [(t.kind, t.status) for t in tasks_of(world, enc.id)] == [
        ("record_vitals", "DONE"),
        ("consult", "CLAIMED"),
    ]


def test_start_consult_completes_the_consult_task(world):
    # given
    enc = make_encounter(world, "VITALS")

    # when
    encounters.encounter_start_consult(scope=world.scope("doctor"), encounter_id=enc.id)

    # then
    assert [(t.kind, t.status) for t in tasks_of(world, enc.id)] == [
        ("record_vitals", "DONE"),
        ("consult", "DONE"),
    ]
    consult = tasks_of(world, enc.id)[1]
    started = encounter_event(world, enc.id, "encounter.consult_started")
    completed = task_events(world, consult.id)[-1]
    assert completed.type == "task.completed" and completed.causation_id == started.id


def test_vitals_during_the_consultation_do_not_reopen_the_consult_task(world):
    # given a consultation under way
    enc = make_encounter(world, "IN_CONSULT")

    # when the nurse repeats the vitals
    record_vitals(world, enc)

    # then the doctor is not asked to see the patient again
    assert [(t.kind, t.status) for t in tasks_of(world, enc.id)] == [
        ("record_vitals", "DONE"),
        ("consult", "DONE"),
    ]


def test_close_cancels_the_remaining_open_tasks(world):
    # given a consultation with an open, a claimed and an in-progress task attached
    enc = make_encounter(world, "DOCUMENTED")
    system = world.scope("admin")
    ids = [
        tasks.task_open(
            scope=system,
            kind=f"follow_up_{n}",
            queue="nursing",
            title="Follow up",
            encounter_id=enc.id,
            patient_id=enc.patient_id,
        )
        for n in range(3)
    ]
    tasks.task_claim(scope=world.scope("nurse"), task_id=ids[1])
    tasks.task_claim(scope=world.scope("nurse"), task_id=ids[2])
    tasks.task_start(scope=world.scope("nurse"), task_id=ids[2])

    # when
    encounters.encounter_close(scope=world.scope("doctor"), encounter_id=enc.id)

    # then the workflow's finished tasks stay DONE, the rest are cancelled by the close
    assert [(t.kind, t.status) for t in tasks_of(world, enc.id)] == [
        ("record_vitals", "DONE"),
        ("consult", "DONE"),
        ("follow_up_0", "CANCELLED"),
        ("follow_up_1", "CANCELLED"),
        ("follow_up_2", "CANCELLED"),
    ]
    closed = encounter_event(world, enc.id, "encounter.closed")
    for task_id in ids:
        last = task_events(world, task_id)[-1]
        assert (last.type, last.stream_type) == ("task.cancelled", "task")
        assert last.causation_id == closed.id
        assert last.payload["reason"] == "encounter closed"


@pytest.mark.parametrize(
    ("stage", "after"),
    [
        ("SCHEDULED", []),
        ("CHECKED_IN", [("record_vitals", "CANCELLED")]),
        ("VITALS", [("record_vitals", "DONE"), ("consult", "CANCELLED")]),
    ],
)
def test_cancel_cancels_the_open_tasks_of_the_encounter(world, stage, after):
    # given
    enc = make_encounter(world, stage)
    other = make_encounter(world, "CHECKED_IN")

    # when
    encounters.encounter_cancel(scope=world.scope("nurse"), encounter_id=enc.id, reason="No show")

    # then
    own = tasks_of(world, enc.id)
    assert [(t.kind, t.status) for t in own] == after
    cancelled = encounter_event(world, enc.id, "encounter.cancelled")
    for task in own:
        if task.status != "CANCELLED":
            continue
        last = task_events(world, task.id)[-1]
        assert last.type == "task.cancelled" and last.causation_id == cancelled.id
        assert last.payload["reason"] == "encounter cancelled"
    assert [(t.kind, t.status) for t in tasks_of(world, other.id)] == [("record_vitals", "OPEN")]


def test_task_events_of_a_request_carry_its_request_id(world):
    # given
    enc = make_encounter(world, "SCHEDULED")

    # when
    r = world.api("nurse").post(enc_url(enc, "check-in"), headers={"X-Request-ID": "req-opd-42"})

    # then
    assert r.status_code == 200 and r["X-Request-ID"] == "req-opd-42"
    (task,) = tasks_of(world, enc.id)
    checked_in = encounter_event(world, enc.id, "encounter.checked_in")
    (created,) = task_events(world, task.id)
    assert checked_in.request_id == created.request_id == "req-opd-42"
    assert checked_in.actor_username == "nurse@acme"


def test_the_walk_through_leaves_every_task_done(world):
    enc = make_encounter(world, "CLOSED")

    assert [(t.kind, t.status) for t in tasks_of(world, enc.id)] == [
        ("record_vitals", "DONE"),
        ("consult", "DONE"),
    ]


def test_laboratory_tasks_outlive_the_closed_visit(world):
    # given a documented consultation with a lab order whose sample is not collected yet
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    enc = make_encounter(world, "DOCUMENTED")
    order_place(
        scope=world.scope("doctor"),
        encounter_id=enc.id,
        order_type="LAB",
        priority="ROUTINE",
        service_codes=["K"],
    )
    # when the visit closes
    encounters.encounter_close(scope=world.scope("doctor"), encounter_id=enc.id)
    # then the sample still has to be collected: results may arrive after the patient left
    kinds = {t.kind: t.status for t in tasks_of(world, enc.id)}
    assert kinds["collect_sample"] == "OPEN"
