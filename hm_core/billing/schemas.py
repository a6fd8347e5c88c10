"""Billing schemas (contract §7). Money is Decimal, rendered as a string to the cent ("36.00"),
so no client ever parses an amount into a binary float."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from ninja import Schema
from pydantic import Field, PlainSerializer, WithJsonSchema, field_validator

from hm_core.billing.domain import CLAIM_STATUSES, PATIENT, member_id_read, money
from hm_core.common.schemas import InputSchema, PageParams

Money = Annotated[
    Decimal,
    PlainSerializer(lambda value: str(money(value)), return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["36.00"]},
        mode="serialization",
    ),
]


class InvoiceLineOut(Schema):
    code: str
    description: str
    quantity: int
    unit_price: Money
    amount: Money


class InvoiceOut(Schema):
    id: uuid.UUID
    encounter: uuid.UUID
    lines: list[InvoiceLineOut]
    total: Money
    currency: str
    status: Literal["OPEN", "FINAL", "VOID"]
    paid: Money
    patient_responsibility: Money
    balance: Money


# --- Insurance, claims and payments (contract §15) -------------------------------------------

PayerKind = Literal["insurer", "government", "corporate"]
ClaimStatus = Literal["DRAFT", "SUBMITTED", "ADJUDICATED", "DENIED", "PARTIALLY_PAID", "PAID"]
assert set(get_args(ClaimStatus)) == set(CLAIM_STATUSES)  # noqa: S101 - import-time consistency
# Amounts from clients: positive up to 10^10, rounded half up to the cent by the domain.
MoneyIn = Annotated[Decimal, Field(ge=0, lt=Decimal("1e10"), allow_inf_nan=False)]


class PayerCreateIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    payer_code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    kind: PayerKind


class PayerOut(Schema):
    id: uuid.UUID
    name: str
    payer_code: str
    kind: str
    created_at: datetime


class PayerListFilters(PageParams):
    kind: PayerKind | None = None


class PayerPageOut(Schema):
    items: list[PayerOut]
    count: int


class CoverageAddIn(InputSchema):
    payer: uuid.UUID
    member_id: str = Field(min_length=1, max_length=64)
    group_number: str = Field("", max_length=64)
    plan_name: str = Field("", max_length=200)
    relationship: Literal["self", "spouse", "child", "other"]
    valid_from: date
    valid_to: date | None = None
    priority: Literal[1, 2]


class CoverageOut(Schema):
    id: uuid.UUID
    patient: uuid.UUID = Field(validation_alias="patient_id")
    payer: uuid.UUID = Field(validation_alias="payer_id")
    member_id: str
    group_number: str
    plan_name: str
    relationship: str
    valid_from: date
    valid_to: date | None
    priority: int
    created_at: datetime

    @staticmethod
    def resolve_member_id(coverage: Any) -> str:
        return member_id_read(coverage.member_id)


class CoveragePageOut(Schema):
    items: list[CoverageOut]
    count: int


class ClaimCreateIn(InputSchema):
    encounter: uuid.UUID
    coverage: uuid.UUID | None = None


class ClaimLineDecisionIn(InputSchema):
    line: int = Field(ge=1, le=10_000)
    approved_amount: MoneyIn
    denial_reason: str | None = Field(None, max_length=500)


class ClaimAdjudicateIn(InputSchema):
    lines: list[ClaimLineDecisionIn] = Field(min_length=1, max_length=1000)


class ClaimLineOut(Schema):
    line: int
    service_code: str
    description: str
    amount: Money
    approved_amount: Money | None
    denial_reason: str | None


class DiagnosisOut(Schema):
    code: str
    system: str


class ClaimOut(Schema):
    id: uuid.UUID
    encounter: uuid.UUID = Field(validation_alias="encounter_id")
    patient: uuid.UUID = Field(validation_alias="patient_id")
    invoice: uuid.UUID = Field(validation_alias="invoice_id")
    payer: uuid.UUID | None = Field(validation_alias="payer_id")
    coverage: uuid.UUID | None = Field(validation_alias="coverage_id")
    facility_id: uuid.UUID
    status: ClaimStatus
    currency: str
    lines: list[ClaimLineOut]
    diagnoses: list[DiagnosisOut]
    total: Money
    approved_total: Money | None
    paid: Money
    version: int
    created_at: datetime
    submitted_at: datetime | None
    adjudicated_at: datetime | None


class ClaimListFilters(PageParams):
    status: ClaimStatus | None = None
    payer: uuid.UUID | None = None
    patient: uuid.UUID | None = None
    encounter: uuid.UUID | None = None


class ClaimPageOut(Schema):
    items: list[ClaimOut]
    count: int


class PaymentRecordIn(InputSchema):
    invoice: uuid.UUID
    payer: str = Field(description='"patient" or the payer\'s id')
    amount: MoneyIn
    method: Literal["cash", "card", "transfer", "insurance", "other"]
    reference: str = Field("", max_length=200)

    @field_validator("payer")
    @classmethod
    def _patient_or_payer_id(cls, value: str) -> str:
        if value == PATIENT:
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError('must be "patient" or a payer id') from None


class PaymentOut(Schema):
    id: uuid.UUID
    invoice: uuid.UUID = Field(validation_alias="invoice_id")
    encounter: uuid.UUID = Field(validation_alias="encounter_id")
    patient: uuid.UUID = Field(validation_alias="patient_id")
    claim: uuid.UUID | None = Field(validation_alias="claim_id")
    payer: str
    amount: Money
    currency: str
    method: str
    reference: str
    recorded_at: datetime


class PaymentListFilters(PageParams):
    invoice: uuid.UUID | None = None


class PaymentPageOut(Schema):
    items: list[PaymentOut]
    count: int
