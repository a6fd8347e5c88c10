"""Imaging schemas: the study list and detail of `/api/imaging/` (DICOMweb speaks DICOM JSON)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import FilterSchema


class StudyListFilters(FilterSchema):
    patient: uuid.UUID | None = None
    order: uuid.UUID | None = None
    status: Literal["ACCESSION", "MRN", "UNMATCHED"] | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=2**31 - 1)


class InstanceFileFilters(FilterSchema):
    deidentify: bool = False


class SeriesOut(Schema):
    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    instance_count: int


class StudyOut(Schema):
    study_instance_uid: str
    status: str = Field(description="how the study was linked: ACCESSION, MRN or UNMATCHED")
    accession_number: str
    modalities: list[str]
    study_date: date | None
    study_description: str
    dicom_patient_id: str
    patient_id: uuid.UUID | None
    encounter_id: uuid.UUID | None
    order_id: uuid.UUID | None
    order_item_id: uuid.UUID | None
    warnings: list[str]
    series_count: int
    instance_count: int
    received_at: datetime
    updated_at: datetime


class StudyDetailOut(StudyOut):
    series: list[SeriesOut]


class StudyPageOut(Schema):
    items: list[StudyOut]
    count: int
