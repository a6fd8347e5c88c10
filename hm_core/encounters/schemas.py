"""Encounter request and response schemas (contract §4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal, get_args

from ninja import Schema
from pydantic import AwareDatetime, Field, field_validator

from hm_core.common.schemas import InputSchema, PageParams
from hm_core.encounters.domain import STATUSES, icd10_code
from hm_core.encounters.news2 import Vitals

EncounterStatus = Literal["SCHEDULED", "CHECKED_IN", "IN_CONSULT", "CLOSED", "CANCELLED"]
assert set(STATUSES) == set(get_args(EncounterStatus))  # noqa: S101 - import-time consistency


class EncounterCreateIn(InputSchema):
    patient: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    scheduled_at: AwareDatetime
    visit_number: str = Field("", max_length=64)


class EncounterVitalsIn(InputSchema):
    """Physiologically impossible values are refused with 422 by the domain, naming each field."""

    blood_pressure_systolic: int = Field(ge=0, le=1000)
    blood_pressure_diastolic: int = Field(ge=0, le=1000)
    pulse: int = Field(ge=0, le=1000)
    temperature: Decimal = Field(max_digits=5, decimal_places=2, ge=0)
    temperature_unit: Literal["F", "C"] = "F"
    spo2: int = Field(ge=0, le=1000)
    respiratory_rate: int | None = Field(None, ge=0, le=1000)
    consciousness: Literal["A", "C", "V", "P", "U"] = "A"
    supplemental_oxygen: bool = False

    def to_vitals(self) -> Vitals:
        return Vitals(**self.model_dump())


class DiagnosisIn(InputSchema):
    """An ICD-10 diagnosis; the code must name an ICD-10 category or subcategory (else 422)."""

    code: str = Field(min_length=3, max_length=10)
    system: Literal["icd10"]

    @field_validator("code")
    @classmethod
    def _icd10(cls, value: str) -> str:
        return icd10_code(value)


class DiagnosisOut(Schema):
    code: str
    system: str


class EncounterAssessmentIn(InputSchema):
    assessment: str = Field(min_length=1, max_length=20000)
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=25)

    @field_validator("diagnoses")
    @classmethod
    def _distinct(cls, value: list[DiagnosisIn]) -> list[DiagnosisIn]:
        codes = [d.code for d in value]
        if len(set(codes)) != len(codes):
            raise ValueError("each diagnosis may be listed once")
        return value


class EncounterPlanIn(InputSchema):
    plan: str = Field(min_length=1, max_length=20000)


class EncounterCancelIn(InputSchema):
    reason: str = Field(min_length=1, max_length=500)


class EncounterListFilters(PageParams):
    patient: uuid.UUID | None = None
    status: EncounterStatus | None = None


class EncounterOut(Schema):
    id: uuid.UUID
    patient: uuid.UUID = Field(validation_alias="patient_id")
    patient_id: uuid.UUID
    facility_id: uuid.UUID
    status: str
    reason: str
    visit_number: str
    scheduled_at: datetime
    checked_in_at: datetime | None
    consult_started_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    assessment: str
    diagnoses: list[DiagnosisOut]
    plan: str
    vitals_count: int
    latest_news2: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class EncounterPageOut(Schema):
    items: list[EncounterOut]
    count: int


class News2Out(Schema):
    total: int = Field(validation_alias="news2_total")
    parameters: dict[str, int] = Field(validation_alias="news2_parameters")
    risk: str = Field(validation_alias="news2_risk")
    complete: bool = Field(validation_alias="news2_complete")


class VitalsOut(Schema):
    id: uuid.UUID
    encounter: uuid.UUID = Field(validation_alias="encounter_id")
    patient_id: uuid.UUID
    blood_pressure_systolic: int
    blood_pressure_diastolic: int
    pulse: int
    temperature: Decimal
    temperature_unit: str
    spo2: int
    respiratory_rate: int | None
    consciousness: str
    supplemental_oxygen: bool
    news2: News2Out
    encounter_version: int | None = Field(
        None, description="the encounter's version after this write (also the ETag)"
    )
    recorded_at: datetime
    recorded_by: str

    @staticmethod
    def resolve_news2(obj: object) -> object:
        return obj
