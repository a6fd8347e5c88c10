"""Task read use-cases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.tasks import domain
from hm_core.tasks.models import Task


@dataclass(frozen=True)
class TaskFilters:
    status: str | None = None
    queue: str | None = None
    assignee_id: uuid.UUID | None = None
    encounter: uuid.UUID | None = None


def task_get(*, scope: Scope, task_id: uuid.UUID) -> Task:
    task = Task.objects.for_scope(scope).filter(id=task_id).first()
    if task is None:
        raise NotFound(details={"resource": "task"})
    return task


def task_list(*, scope: Scope, filters: TaskFilters) -> QuerySet[Task]:
    """The facility's tasks, oldest first (a work queue is worked from its head)."""
    qs = Task.objects.for_scope(scope)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.queue:
        qs = qs.filter(queue=filters.queue)
    if filters.assignee_id:
        qs = qs.filter(assignee_id=filters.assignee_id)
    if filters.encounter:
        qs = qs.filter(encounter_id=filters.encounter)
    return qs.order_by("created_at", "id")


def active_tasks(
    *,
    scope: Scope,
    encounter_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> list[Task]:
    """Tasks not yet done or cancelled, of an encounter or about a subject."""
    qs = Task.objects.for_scope(scope).filter(status__in=domain.ACTIVE)
    if encounter_id is not None:
        qs = qs.filter(encounter_id=encounter_id)
    if subject_id is not None:
        qs = qs.filter(subject_id=subject_id)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return list(qs.order_by("created_at", "id"))


def task_exists(*, scope: Scope, encounter_id: uuid.UUID, kind: str) -> bool:
    """Whether the encounter ever had a task of this kind, whatever became of it."""
    return Task.objects.for_scope(scope).filter(encounter_id=encounter_id, kind=kind).exists()


def task_patient_ids_assigned_to(*, tenant_id: uuid.UUID, user_id: uuid.UUID) -> QuerySet[Any, Any]:
    """Patient ids of the user's open tasks (any facility): a lazy subquery for the
    confidential-patient care-team rule (contract §18)."""
    qs = Task.objects.filter(tenant_id=tenant_id, assignee_id=user_id, status__in=domain.ACTIVE)
    return qs.exclude(patient_id__isnull=True).values("patient_id")
