"""Task read-model projections."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.tasks import domain
from hm_core.tasks.events import TaskCancelled, TaskClaimed, TaskCompleted, TaskCreated, TaskStarted
from hm_core.tasks.models import Task

rebuildable("tasks", Task)


@subscribe(TaskCreated)
def task_apply_created(event: TaskCreated, meta: EventMeta) -> None:
    """An OPEN task; one the workflow assigned at creation stays OPEN, already assigned."""
    upsert(
        Task,
        id=event.task_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "encounter_id": event.encounter_id,
            "patient_id": event.patient_id,
            "subject_id": event.subject_id,
            "assignee_id": event.assignee_id,
            "assignee_username": event.assignee_username,
            "kind": event.kind,
            "queue": event.queue,
            "title": event.title,
            "status": domain.OPEN,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(TaskClaimed)
def task_apply_claimed(event: TaskClaimed, meta: EventMeta) -> None:
    _touch(
        meta,
        status=domain.CLAIMED,
        assignee_id=event.assignee_id,
        assignee_username=event.assignee_username,
    )


@subscribe(TaskStarted)
def task_apply_started(event: TaskStarted, meta: EventMeta) -> None:
    _touch(meta, status=domain.IN_PROGRESS)


@subscribe(TaskCompleted)
def task_apply_completed(event: TaskCompleted, meta: EventMeta) -> None:
    _touch(meta, status=domain.DONE, completed_at=meta.occurred_at)


@subscribe(TaskCancelled)
def task_apply_cancelled(event: TaskCancelled, meta: EventMeta) -> None:
    _touch(meta, status=domain.CANCELLED)


def _touch(meta: EventMeta, **fields: object) -> None:
    update(
        Task.all_tenants.filter(id=meta.stream.id, tenant_id=meta.tenant_id),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
