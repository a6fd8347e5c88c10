"""Patient request and response schemas (contract §3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from ninja import Schema
from pydantic import Field, field_validator

from hm_core.common.schemas import InputSchema, PageParams

Gender = Literal["M", "F", "O", "U"]
PHONE = r"^\+?[0-9 ()\-.]{3,32}$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$"
MRN = r"^[A-Za-z0-9][A-Za-z0-9\-_./]{0,63}$"


class PatientRegisterIn(InputSchema):
    full_name: str = Field(min_length=1, max_length=200)
    mrn: str = Field(min_length=1, max_length=64, pattern=MRN)
    date_of_birth: date
    gender: Gender
    phone: str | None = Field(None, max_length=32, pattern=PHONE)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    address: str | None = Field(None, max_length=500)

    def demographics(self) -> dict[str, object]:
        data = self.model_dump()
        return {k: ("" if v is None else v) for k, v in data.items()}


class PatientUpdateIn(InputSchema):
    """Every field optional; only the fields sent are changed. Optional fields accept null."""

    full_name: str | None = Field(None, min_length=1, max_length=200)
    mrn: str | None = Field(None, min_length=1, max_length=64, pattern=MRN)
    date_of_birth: date | None = None
    gender: Gender | None = None
    phone: str | None = Field(None, max_length=32, pattern=PHONE)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    address: str | None = Field(None, max_length=500)

    @field_validator("full_name", "mrn", "date_of_birth", "gender", mode="after")
    @classmethod
    def required_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, object]:
        sent = self.model_dump(include=self.model_fields_set)
        return {k: ("" if v is None else v) for k, v in sent.items()}


class PatientListFilters(PageParams):
    search: str | None = Field(None, max_length=100)
    gender: Gender | None = None
    ordering: Literal[
        "full_name",
        "-full_name",
        "created_at",
        "-created_at",
        "mrn",
        "-mrn",
        "date_of_birth",
        "-date_of_birth",
    ] = "-created_at"


class PatientOut(Schema):
    id: uuid.UUID
    mrn: str
    full_name: str
    date_of_birth: date
    gender: str
    phone: str
    email: str
    address: str
    facility_id: uuid.UUID
    version: int
    is_deleted: bool
    created_at: datetime
    updated_at: datetime


class PatientPageOut(Schema):
    items: list[PatientOut]
    count: int
