"""Task events. Stream: ("task", task_id), facility-scoped, usually attached to an encounter."""

from __future__ import annotations

import uuid
from typing import ClassVar

from hm_core.events.base import DomainEvent


class TaskEvent(DomainEvent):
    task_id: uuid.UUID
    encounter_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None


class TaskCreated(TaskEvent):
    """Work was put in a queue (by the workflow or a person)."""

    event_type: ClassVar[str] = "task.created"
    kind: str
    queue: str
    title: str
    subject_id: uuid.UUID | None = None  # e.g. the sample or result the task is about
    # Set when the workflow knows who must do it (the ordering clinician of a critical result).
    assignee_id: uuid.UUID | None = None
    assignee_username: str = ""

    def summary(self) -> str:
        to = f" for {self.assignee_username}" if self.assignee_username else ""
        return f"Task opened in {self.queue} queue{to}: {self.title}"


class TaskClaimed(TaskEvent):
    """A person took the task."""

    event_type: ClassVar[str] = "task.claimed"
    assignee_id: uuid.UUID
    assignee_username: str

    def summary(self) -> str:
        return f"Task claimed by {self.assignee_username}"


class TaskStarted(TaskEvent):
    """The assignee started working on the task."""

    event_type: ClassVar[str] = "task.started"

    def summary(self) -> str:
        return "Task started"


class TaskCompleted(TaskEvent):
    """The task is done (by its assignee, or by the workflow when its work happened)."""

    event_type: ClassVar[str] = "task.completed"
    by_workflow: bool = False

    def summary(self) -> str:
        return "Task completed" + (" by the workflow" if self.by_workflow else "")


class TaskCancelled(TaskEvent):
    """The task is no longer needed."""

    event_type: ClassVar[str] = "task.cancelled"
    reason: str = ""

    def summary(self) -> str:
        return "Task cancelled" + (f": {self.reason}" if self.reason else "")
