"""Scheduling schemas (contract §14)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import AwareDatetime, Field, field_validator

from hm_core.common.schemas import FilterSchema, InputSchema, PageParams
from hm_core.scheduling.domain import parse_hhmm

AppointmentStatus = Literal["BOOKED", "CHECKED_IN", "FULFILLED", "CANCELLED", "NO_SHOW"]
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class WeeklyHoursIn(InputSchema):
    weekday: int = Field(ge=0, le=6)
    start: str = Field(pattern=HHMM)
    end: str = Field(pattern=HHMM)

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: str, info: Any) -> str:
        start = info.data.get("start")
        if start is not None and parse_hhmm(value) <= parse_hhmm(start):
            raise ValueError("must be after start")
        return value


class ScheduleCreateIn(InputSchema):
    practitioner: uuid.UUID
    weekly: list[WeeklyHoursIn] = Field(min_length=1, max_length=70)
    slot_minutes: int = Field(ge=5, le=240)
    valid_from: date
    valid_to: date | None = None


class WeeklyHoursOut(Schema):
    weekday: int
    start: str
    end: str


class ScheduleOut(Schema):
    id: uuid.UUID
    practitioner: uuid.UUID
    weekly: list[WeeklyHoursOut]
    slot_minutes: int
    valid_from: date
    valid_to: date | None
    time_zone: str
    facility_id: uuid.UUID
    created_at: datetime

    @staticmethod
    def resolve_practitioner(obj: Any) -> uuid.UUID:
        return obj.practitioner_id


class ScheduleListFilters(PageParams):
    practitioner: uuid.UUID | None = None


class SchedulePageOut(Schema):
    items: list[ScheduleOut]
    count: int


def _instant_or_date(value: Any) -> Any:
    """A date (`2026-03-01`) or a timestamp with a zone; a timestamp without one is refused."""
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("a timestamp needs a time zone (e.g. Z)")
        return parsed
    return value


class SlotListFilters(FilterSchema):
    practitioner: uuid.UUID
    from_: AwareDatetime | date = Field(alias="from")
    to: AwareDatetime | date

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> Any:
        return _instant_or_date(value)


class SlotOut(Schema):
    start: datetime
    end: datetime
    practitioner: uuid.UUID


class AppointmentBookIn(InputSchema):
    patient: uuid.UUID
    practitioner: uuid.UUID
    start: AwareDatetime
    end: AwareDatetime | None = None
    reason: str = Field(min_length=1, max_length=500)


class AppointmentRescheduleIn(InputSchema):
    start: AwareDatetime
    end: AwareDatetime | None = None


class AppointmentCancelIn(InputSchema):
    reason: str = Field(min_length=1, max_length=500)


class AppointmentListFilters(PageParams):
    practitioner: uuid.UUID | None = None
    patient: uuid.UUID | None = None
    from_: AwareDatetime | date | None = Field(None, alias="from")
    to: AwareDatetime | date | None = None
    status: AppointmentStatus | None = None

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> Any:
        return _instant_or_date(value)


class AppointmentOut(Schema):
    id: uuid.UUID
    patient: uuid.UUID
    practitioner: uuid.UUID
    start: datetime
    end: datetime
    status: AppointmentStatus
    reason: str
    encounter: uuid.UUID | None
    cancel_reason: str
    facility_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_patient(obj: Any) -> uuid.UUID:
        return obj.patient_id

    @staticmethod
    def resolve_practitioner(obj: Any) -> uuid.UUID:
        return obj.practitioner_id

    @staticmethod
    def resolve_start(obj: Any) -> datetime:
        return obj.start_at

    @staticmethod
    def resolve_end(obj: Any) -> datetime:
        return obj.end_at

    @staticmethod
    def resolve_encounter(obj: Any) -> uuid.UUID | None:
        return obj.encounter_id


class AppointmentPageOut(Schema):
    items: list[AppointmentOut]
    count: int
