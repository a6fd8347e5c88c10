"""The laboratory workflow's tasks (skipped on replay).

collect a sample (phlebotomy) → enter its results (lab) → verify each result (lab); a critical
result's alert → the ordering clinician acknowledges it (doctor, assigned). The subject of a
task is the sample, result or alert it is about; the workflow completes a task when its work
happened and cancels it when the work is no longer wanted.

Acknowledging a critical result is one act whichever way the clinician does it: acknowledging
the alert completes its task, and completing the task acknowledges its alert (through the alerts
service, as an event, with the same permission) — never a DONE task beside an OPEN alert.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from hm_core.alerts.events import AlertAcknowledged, AlertRaised
from hm_core.alerts.selectors import alert_get
from hm_core.alerts.services import alert_acknowledge
from hm_core.common.errors import PermissionDenied
from hm_core.common.scope import Scope, scope_active
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.iam.selectors import principal_of_user
from hm_core.lab.events import (
    CRITICAL_RESULT_ALERT,
    ResultEntered,
    ResultVerified,
    SampleCancelled,
    SampleCreated,
    SampleReceived,
    SampleRejected,
)
from hm_core.lab.selectors import (
    sample_get,
    sample_has_results,
    sample_outstanding_items,
    samples_of_order,
)
from hm_core.orders.events import OrderCancelled
from hm_core.tasks.events import TaskCompleted
from hm_core.tasks.selectors import task_get
from hm_core.tasks.services import task_open, tasks_close_by_workflow

COLLECT, ENTER, VERIFY = "collect_sample", "enter_result", "verify_result"
ACKNOWLEDGE = "acknowledge_critical_result"
# Laboratory work outlives the visit: results arrive and must be acknowledged after it closes.
LABORATORY_KINDS = (COLLECT, ENTER, VERIFY, ACKNOWLEDGE)
SAMPLE_RECEIVED = "RECEIVED"  # the lab module's sample status
ALERT_OPEN = "OPEN"  # the alerts module's status of an unacknowledged alert


@subscribe(SampleCreated, stage=Stage.POLICY)
def collect_task_open_when_sample_created(event: SampleCreated, meta: EventMeta) -> None:
    """Every expected specimen (a recollection too) needs collecting."""
    verb = "Recollect" if event.replaces_sample_id else "Collect"
    task_open(
        scope=meta.scope,
        kind=COLLECT,
        queue="phlebotomy",
        title=f"{verb} {event.specimen_type} sample: {', '.join(event.service_codes)}",
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        subject_id=event.sample_id,
    )


@subscribe(SampleReceived, stage=Stage.POLICY)
def enter_task_open_when_sample_received(event: SampleReceived, meta: EventMeta) -> None:
    """Collected: the collection task is done and the lab has results to enter."""
    tasks_close_by_workflow(
        scope=meta.scope, outcome="done", subject_id=event.sample_id, kind=COLLECT
    )
    task_open(
        scope=meta.scope,
        kind=ENTER,
        queue="lab",
        title=f"Enter results for sample {event.barcode}",
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        subject_id=event.sample_id,
    )


@subscribe(SampleRejected, SampleCancelled, stage=Stage.POLICY)
def sample_tasks_cancel_when_sample_ends(
    event: SampleRejected | SampleCancelled, meta: EventMeta
) -> None:
    """Nothing is left to collect or enter from a rejected or cancelled specimen (a
    recollection gets its own tasks)."""
    tasks_close_by_workflow(
        scope=meta.scope,
        outcome="cancel",
        subject_id=event.sample_id,
        reason=f"sample {meta.event_type.split('_')[-1]}",
    )


@subscribe(ResultEntered, stage=Stage.POLICY)
def verify_task_open_when_result_entered(event: ResultEntered, meta: EventMeta) -> None:
    """A second technologist verifies; the sample's entry task ends with its last result."""
    task_open(
        scope=meta.scope,
        kind=VERIFY,
        queue="lab",
        title=f"Verify result: {event.service_code}",
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        subject_id=event.result_id,
    )
    _enter_task_settle(meta.scope, event.sample_id)


@subscribe(OrderCancelled, stage=Stage.POLICY)
def enter_tasks_settle_when_order_cancelled(event: OrderCancelled, meta: EventMeta) -> None:
    """Cancelled items need no result: a received sample may have nothing left to enter."""
    with scope_active(meta.scope):
        received = samples_of_order(
            scope=meta.scope, order_id=event.order_id, status=SAMPLE_RECEIVED
        )
    for sample in received:
        _enter_task_settle(meta.scope, sample.id)


def _enter_task_settle(scope: Scope, sample_id: uuid.UUID) -> None:
    """Done once no item of the sample waits for a result; cancelled if none was resulted."""
    with scope_active(scope):
        sample = sample_get(scope=scope, sample_id=sample_id)
        if sample.status != SAMPLE_RECEIVED or sample_outstanding_items(scope=scope, sample=sample):
            return
        resulted = sample_has_results(scope=scope, sample=sample)
    tasks_close_by_workflow(
        scope=scope,
        outcome="done" if resulted else "cancel",
        subject_id=sample_id,
        kind=ENTER,
        reason="" if resulted else "order cancelled",
    )


@subscribe(ResultVerified, stage=Stage.POLICY)
def verify_task_complete_when_result_verified(event: ResultVerified, meta: EventMeta) -> None:
    tasks_close_by_workflow(
        scope=meta.scope, outcome="done", subject_id=event.result_id, kind=VERIFY
    )


@subscribe(AlertRaised, stage=Stage.POLICY)
def acknowledge_task_open_when_critical_result(event: AlertRaised, meta: EventMeta) -> None:
    """A critical result must reach the clinician who ordered it: the task is theirs."""
    if event.kind != CRITICAL_RESULT_ALERT:
        return
    task_open(
        scope=meta.scope,
        kind=ACKNOWLEDGE,
        queue="doctor",
        title=f"Acknowledge {event.message}",
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        subject_id=event.alert_id,
        assignee_id=event.assignee_id,
        assignee_username=event.assignee,
    )


@subscribe(AlertAcknowledged, stage=Stage.POLICY)
def acknowledge_task_complete_when_alert_acknowledged(
    event: AlertAcknowledged, meta: EventMeta
) -> None:
    tasks_close_by_workflow(
        scope=meta.scope, outcome="done", subject_id=event.alert_id, kind=ACKNOWLEDGE
    )


@subscribe(TaskCompleted, stage=Stage.POLICY)
def alert_acknowledge_when_acknowledge_task_completed(
    event: TaskCompleted, meta: EventMeta
) -> None:
    """The clinician completed the acknowledgement task: the alert is acknowledged by them, in
    the same transaction (refused, with the task left open, if they may not acknowledge)."""
    if event.by_workflow:  # the alert was acknowledged, or the task closed for another reason
        return
    with scope_active(meta.scope):
        task = task_get(scope=meta.scope, task_id=event.task_id)
        if task.kind != ACKNOWLEDGE or task.subject_id is None:
            return
        alert = alert_get(scope=meta.scope, alert_id=task.subject_id)
    if alert.status != ALERT_OPEN:
        return
    alert_acknowledge(
        scope=_as_the_person(meta),
        alert_id=alert.id,
        note="Acknowledged by completing the acknowledgement task.",
        expected_version=None,
    )


def _as_the_person(meta: EventMeta) -> Scope:
    """The policy's scope acting as the person who completed the task: the acknowledgement is
    theirs, with their permissions (a policy otherwise acts as the all-permitted system)."""
    person = None
    if meta.actor_id is not None:
        person = principal_of_user(
            user_id=meta.actor_id, tenant_id=meta.tenant_id, facility_id=meta.facility_id
        )
    if person is None:
        raise PermissionDenied(details={"permission": "alerts.acknowledge"})
    return replace(meta.scope, principal=person)
