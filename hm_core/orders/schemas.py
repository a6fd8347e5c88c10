"""Order schemas (contract §7)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import InputSchema, PageParams


class OrderItemIn(InputSchema):
    service_code: str = Field(min_length=1, max_length=32)


class OrderPlaceIn(InputSchema):
    encounter: uuid.UUID
    order_type: Literal["LAB", "IMAGING", "PROCEDURE"]
    priority: Literal["ROUTINE", "URGENT", "STAT"] = "ROUTINE"
    items: list[OrderItemIn] = Field(min_length=1, max_length=50)
    # HL7 EI (ORC-2): no separator or escape characters, no blanks; generated when absent.
    placer_order_number: str | None = Field(
        None, min_length=1, max_length=22, pattern=r"^[^|^~\\&\s]+$"
    )


class OrderCancelIn(InputSchema):
    reason: str = Field("", max_length=500)


class OrderListFilters(PageParams):
    encounter: uuid.UUID | None = None
    status: Literal["PLACED", "CANCELLED", "COMPLETED"] | None = None


class OrderItemOut(Schema):
    id: uuid.UUID
    service_code: str
    name: str
    loinc_code: str
    specimen_type: str
    status: str
    price: Decimal
    currency: str
    accession_number: str


class OrderOut(Schema):
    id: uuid.UUID
    encounter: uuid.UUID = Field(validation_alias="encounter_id")
    patient_id: uuid.UUID
    facility_id: uuid.UUID
    order_type: str
    priority: str
    placer_order_number: str
    status: str
    ordered_by: str
    cancel_reason: str
    items: list[OrderItemOut] = Field(validation_alias="item_list")
    version: int
    created_at: datetime
    updated_at: datetime


class OrderPageOut(Schema):
    items: list[OrderOut]
    count: int
