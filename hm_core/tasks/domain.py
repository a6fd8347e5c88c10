"""Task state machine — pure Python.

    OPEN → CLAIMED → IN_PROGRESS → DONE;   OPEN | CLAIMED | IN_PROGRESS → CANCELLED

A person claims, starts and completes; only the assignee may start or complete a claimed task.
The workflow (a policy) may complete or cancel a task from any open state, because the work
the task asked for has happened (vitals were recorded) or is no longer needed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypedDict

from hm_core.common.errors import Forbidden, InvalidTransition
from hm_core.tasks.events import TaskCancelled, TaskClaimed, TaskCompleted, TaskStarted

OPEN, CLAIMED, IN_PROGRESS, DONE, CANCELLED = "OPEN", "CLAIMED", "IN_PROGRESS", "DONE", "CANCELLED"
STATUSES = (OPEN, CLAIMED, IN_PROGRESS, DONE, CANCELLED)
ACTIVE = (OPEN, CLAIMED, IN_PROGRESS)


class TaskRefs(TypedDict):
    task_id: uuid.UUID
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None


@dataclass(frozen=True)
class TaskState:
    task_id: uuid.UUID
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    status: str
    assignee_id: uuid.UUID | None
    version: int

    def refs(self) -> TaskRefs:
        return {
            "task_id": self.task_id,
            "encounter_id": self.encounter_id,
            "patient_id": self.patient_id,
        }


class NotAssignee(Forbidden):
    default_code = "not_assignee"
    default_message = "Only the person who claimed this task may do this."


def _require(state: TaskState, *allowed: str, action: str) -> None:
    if state.status not in allowed:
        raise InvalidTransition(
            f"Cannot {action} a task that is {state.status}.",
            details={"from": state.status, "action": action, "allowed_from": list(allowed)},
        )


def claim(state: TaskState, *, user_id: uuid.UUID, username: str) -> list[TaskClaimed]:
    _require(state, OPEN, action="claim")
    return [TaskClaimed(**state.refs(), assignee_id=user_id, assignee_username=username)]


def start(state: TaskState, *, user_id: uuid.UUID) -> list[TaskStarted]:
    _require(state, CLAIMED, action="start")
    if state.assignee_id != user_id:
        raise NotAssignee()
    return [TaskStarted(**state.refs())]


def complete(state: TaskState, *, user_id: uuid.UUID | None) -> list[TaskCompleted]:
    """A person completes their task in progress; the workflow (user_id None) any open task."""
    if user_id is None:
        _require(state, *ACTIVE, action="complete")
        return [TaskCompleted(**state.refs(), by_workflow=True)]
    _require(state, IN_PROGRESS, action="complete")
    if state.assignee_id != user_id:
        raise NotAssignee()
    return [TaskCompleted(**state.refs())]


def cancel(state: TaskState, *, reason: str) -> list[TaskCancelled]:
    _require(state, *ACTIVE, action="cancel")
    return [TaskCancelled(**state.refs(), reason=reason)]
