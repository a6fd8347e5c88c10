"""Task schemas (contract §5)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import InputSchema, PageParams

TaskStatus = Literal["OPEN", "CLAIMED", "IN_PROGRESS", "DONE", "CANCELLED"]


class TaskListFilters(PageParams):
    status: TaskStatus | None = None
    queue: str | None = Field(None, max_length=32)
    assignee: Literal["me"] | None = None
    encounter: uuid.UUID | None = None


class TaskCancelIn(InputSchema):
    reason: str = Field("", max_length=500)


class TaskOut(Schema):
    id: uuid.UUID
    kind: str
    queue: str
    title: str
    status: str
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    assignee_username: str
    facility_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class TaskPageOut(Schema):
    items: list[TaskOut]
    count: int
