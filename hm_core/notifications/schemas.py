"""Notification schemas (contract §14)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Schema

from hm_core.common.schemas import PageParams

NotificationStatus = Literal["SCHEDULED", "SENT", "FAILED", "CANCELLED"]


class NotificationListFilters(PageParams):
    patient: uuid.UUID | None = None
    status: NotificationStatus | None = None


class NotificationOut(Schema):
    id: uuid.UUID
    patient: uuid.UUID
    appointment: uuid.UUID
    channel: str
    kind: str
    status: NotificationStatus
    due_at: datetime
    attempts: int
    last_error: str
    sent_at: datetime | None
    facility_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_patient(obj: Any) -> uuid.UUID:
        return obj.patient_id

    @staticmethod
    def resolve_appointment(obj: Any) -> uuid.UUID:
        return obj.appointment_id


class NotificationPageOut(Schema):
    items: list[NotificationOut]
    count: int
