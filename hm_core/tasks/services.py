"""Task write use-cases: the workflow opens, completes and cancels; people claim and work."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import transaction

from hm_core.common.errors import Forbidden
from hm_core.common.scope import Scope, scope_active
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.tasks import domain
from hm_core.tasks.events import TaskCreated
from hm_core.tasks.models import Task
from hm_core.tasks.selectors import active_tasks, task_get

STREAM = "task"


@transaction.atomic
def task_open(
    *,
    scope: Scope,
    kind: str,
    queue: str,
    title: str,
    encounter_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None,
    assignee_username: str = "",
) -> uuid.UUID:
    """Open a task in a queue, optionally assigned to the person who must do it (it stays
    OPEN); the workflow's way of asking for work."""
    task_id = uuid.uuid4()
    event = TaskCreated(
        task_id=task_id,
        encounter_id=encounter_id,
        patient_id=patient_id,
        subject_id=subject_id,
        kind=kind,
        queue=queue,
        title=title,
        assignee_id=assignee_id,
        assignee_username=assignee_username,
    )
    publish(scope=scope, stream=StreamRef(STREAM, task_id), expected_version=0, events=[event])
    return task_id


def _transition(
    *,
    scope: Scope,
    task_id: uuid.UUID,
    expected_version: int | None,
    decide: Callable[[domain.TaskState], list[DomainEvent]],
) -> Task:
    return run_command(
        scope=scope,
        permission="tasks.work",
        stream_type=STREAM,
        load=lambda: task_get(scope=scope, task_id=task_id),
        decide=lambda task: decide(_state(task)),
        expected_version=expected_version,
    )


def _state(task: Task) -> domain.TaskState:
    return domain.TaskState(
        task_id=task.id,
        encounter_id=task.encounter_id,
        patient_id=task.patient_id,
        status=task.status,
        assignee_id=task.assignee_id,
        version=task.version,
    )


def _person(scope: Scope) -> uuid.UUID:
    """The acting person's id; tasks are claimed and worked by people, not by the system."""
    if scope.principal.user_id is None:
        raise Forbidden("Only a signed-in person can work a task.")
    return scope.principal.user_id


def task_claim(*, scope: Scope, task_id: uuid.UUID, expected_version: int | None = None) -> Task:
    """Take an open task: it becomes yours."""
    user_id, username = _person(scope), scope.principal.username
    return _transition(
        scope=scope,
        task_id=task_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.claim(s, user_id=user_id, username=username)),
    )


def task_start(*, scope: Scope, task_id: uuid.UUID, expected_version: int | None = None) -> Task:
    """Start your claimed task."""
    user_id = _person(scope)
    return _transition(
        scope=scope,
        task_id=task_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.start(s, user_id=user_id)),
    )


def task_complete(*, scope: Scope, task_id: uuid.UUID, expected_version: int | None = None) -> Task:
    """Complete your task in progress."""
    user_id = _person(scope)
    return _transition(
        scope=scope,
        task_id=task_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.complete(s, user_id=user_id)),
    )


def task_cancel(
    *, scope: Scope, task_id: uuid.UUID, reason: str = "", expected_version: int | None = None
) -> Task:
    """Cancel a task that is no longer needed."""
    return _transition(
        scope=scope,
        task_id=task_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.cancel(s, reason=reason)),
    )


def tasks_close_by_workflow(
    *,
    scope: Scope,
    outcome: str,
    encounter_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    kind: str | None = None,
    except_kinds: tuple[str, ...] = (),
    reason: str = "",
) -> int:
    """Complete (`outcome="done"`) or cancel the matching active tasks; returns how many."""
    with scope_active(scope), transaction.atomic():
        tasks = active_tasks(
            scope=scope, encounter_id=encounter_id, subject_id=subject_id, kind=kind
        )
        tasks = [task for task in tasks if task.kind not in except_kinds]
        for task in tasks:
            state = _state(task)
            events = (
                domain.complete(state, user_id=None)
                if outcome == "done"
                else domain.cancel(state, reason=reason)
            )
            publish(
                scope=scope,
                stream=StreamRef(STREAM, task.id),
                expected_version=task.version,
                events=list(events),
            )
        return len(tasks)
