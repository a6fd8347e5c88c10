"""Alert schemas (contract §7)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import InputSchema, PageParams


class AlertListFilters(PageParams):
    status: Literal["OPEN", "ACKNOWLEDGED"] | None = None
    encounter: uuid.UUID | None = None
    patient: uuid.UUID | None = None


class AlertAcknowledgeIn(InputSchema):
    note: str = Field("", max_length=500)


class AlertFindingOut(Schema):
    code: str
    value: str
    unit: str
    flag: str


class AlertOut(Schema):
    id: uuid.UUID
    kind: str
    severity: str
    status: str
    message: str
    source_type: str
    source_id: uuid.UUID | None
    source_version: int | None
    assignee_id: uuid.UUID | None
    assignee: str
    findings: list[AlertFindingOut]
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    facility_id: uuid.UUID
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by_id: uuid.UUID | None
    acknowledged_by: str
    acknowledge_note: str
    version: int


class AlertPageOut(Schema):
    items: list[AlertOut]
    count: int
