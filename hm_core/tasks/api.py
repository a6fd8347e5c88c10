"""Contract §5: work queues — list, detail, claim, start, complete, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Query, Router

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.scope import scope_active
from hm_core.tasks import services
from hm_core.tasks.models import Task
from hm_core.tasks.schemas import TaskCancelIn, TaskListFilters, TaskOut, TaskPageOut
from hm_core.tasks.selectors import TaskFilters, task_get, task_list

router = Router(tags=["tasks"])


@router.get("/", response={200: TaskPageOut, **ERRORS})
def task_list_page(request: HttpRequest, filters: Query[TaskListFilters]) -> dict[str, Any]:
    """The facility's tasks: `?status=&queue=&assignee=me&encounter=`."""
    scope = scope_of(request)
    scope.require("tasks.view")
    assignee = scope.principal.user_id if filters.assignee == "me" else None
    with scope_active(scope):
        qs = task_list(
            scope=scope,
            filters=TaskFilters(filters.status, filters.queue, assignee, filters.encounter),
        )
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/{task_id}/", response={200: TaskOut, **ERRORS})
def task_view(request: HttpRequest, task_id: uuid.UUID, response: HttpResponse) -> Task:
    """One task."""
    scope = scope_of(request)
    scope.require("tasks.view")
    with scope_active(scope):
        return with_etag(response, task_get(scope=scope, task_id=task_id))


@router.post("/{task_id}/claim/", response={200: TaskOut, **ERRORS})
def task_claim(request: HttpRequest, task_id: uuid.UUID, response: HttpResponse) -> Task:
    """OPEN → CLAIMED by you."""
    task = services.task_claim(
        scope=scope_of(request), task_id=task_id, expected_version=if_match(request)
    )
    return with_etag(response, task)


@router.post("/{task_id}/start/", response={200: TaskOut, **ERRORS})
def task_start(request: HttpRequest, task_id: uuid.UUID, response: HttpResponse) -> Task:
    """CLAIMED → IN_PROGRESS (assignee only)."""
    task = services.task_start(
        scope=scope_of(request), task_id=task_id, expected_version=if_match(request)
    )
    return with_etag(response, task)


@router.post("/{task_id}/complete/", response={200: TaskOut, **ERRORS})
def task_complete(request: HttpRequest, task_id: uuid.UUID, response: HttpResponse) -> Task:
    """IN_PROGRESS → DONE (assignee only)."""
    task = services.task_complete(
        scope=scope_of(request), task_id=task_id, expected_version=if_match(request)
    )
    return with_etag(response, task)


@router.post("/{task_id}/cancel/", response={200: TaskOut, **ERRORS})
def task_cancel(
    request: HttpRequest,
    task_id: uuid.UUID,
    response: HttpResponse,
    payload: TaskCancelIn | None = Body(None),  # noqa: B008 - Ninja's way to declare a body
) -> Task:
    """Cancel a task that is no longer needed; the body's `reason` is optional."""
    task = services.task_cancel(
        scope=scope_of(request),
        task_id=task_id,
        reason=payload.reason if payload else "",
        expected_version=if_match(request),
    )
    return with_etag(response, task)
