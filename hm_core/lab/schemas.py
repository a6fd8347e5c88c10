"""Laboratory schemas (contract §7).

Inputs shape the request (unknown fields refused); the result payload's content is checked
against the catalog by `analytes.normalise` for every caller, API or not.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from ninja import Schema
from pydantic import Field, field_validator

from hm_core.common.schemas import InputSchema, PageParams
from hm_core.lab.domain import REASON_MAX_LENGTH, RESULT_STATUSES, SAMPLE_STATUSES

SampleStatus = Literal["PENDING", "RECEIVED", "REJECTED", "CANCELLED"]
ResultStatus = Literal["ENTERED", "VERIFIED", "RELEASED", "CORRECTED"]
assert set(SAMPLE_STATUSES) == set(get_args(SampleStatus))  # noqa: S101 - import-time check
assert set(RESULT_STATUSES) == set(get_args(ResultStatus))  # noqa: S101 - import-time check

# A label's printable characters, no spaces (Code 128 and the usual LIS formats fit).
BARCODE_PATTERN = r"^[\x21-\x7e]+$"


class SampleReceiveIn(InputSchema):
    barcode: str = Field(min_length=1, max_length=64, pattern=BARCODE_PATTERN)
    received_at: datetime

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a timezone")
        return value


class SampleRejectIn(InputSchema):
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)


class SampleListFilters(PageParams):
    status: SampleStatus | None = None
    order: uuid.UUID | None = None
    encounter: uuid.UUID | None = None


class SampleOut(Schema):
    id: uuid.UUID
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    facility_id: uuid.UUID
    specimen_type: str
    item_ids: list[uuid.UUID]
    service_codes: list[str]
    status: str
    barcode: str
    received_at: datetime | None
    received_by: str
    reject_reason: str
    rejected_at: datetime | None
    cancel_reason: str
    replaces_sample_id: uuid.UUID | None
    replaced_by_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


class SamplePageOut(Schema):
    items: list[SampleOut]
    count: int


class LabResultEnterIn(InputSchema):
    order_item_id: uuid.UUID
    result_payload: dict[str, Any]
    is_critical: bool = False


class LabResultCorrectIn(InputSchema):
    result_payload: dict[str, Any]
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)
    is_critical: bool = False


class LabResultListFilters(PageParams):
    encounter: uuid.UUID | None = None
    order: uuid.UUID | None = None
    status: ResultStatus | None = None


class AnalyteValueOut(Schema):
    code: str
    value: str
    unit: str
    flag: str
    reference_range: str


class LabResultOut(Schema):
    """A result with its current version's values. `version` is the result's own version
    (ETag, If-Match); `versions` how many reported versions it has, the current one being
    number `versions`; `supersedes` the number of the version the current one corrected."""

    id: uuid.UUID
    order_id: uuid.UUID
    order_item_id: uuid.UUID
    sample_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    facility_id: uuid.UUID
    service_code: str
    status: str
    values: list[AnalyteValueOut]
    is_critical: bool
    comment: str
    reason: str
    versions: int
    supersedes: int | None
    entered_by_id: uuid.UUID | None
    entered_by: str
    verified_by_id: uuid.UUID | None
    verified_by: str
    verified_at: datetime | None
    released_by_id: uuid.UUID | None
    released_by: str
    released_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class LabResultPageOut(Schema):
    items: list[LabResultOut]
    count: int


class LabResultVersionOut(Schema):
    """One immutable reported version: v1 ENTERED, then one CORRECTED version per correction."""

    id: uuid.UUID
    result_id: uuid.UUID
    version: int
    status: str
    values: list[AnalyteValueOut]
    is_critical: bool
    comment: str
    reason: str
    supersedes: int | None
    author_id: uuid.UUID | None
    author_username: str
    created_at: datetime


class LabResultVersionPageOut(Schema):
    items: list[LabResultVersionOut]
    count: int
