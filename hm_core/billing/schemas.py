"""Billing schemas (contract §7). Money is Decimal, rendered as a string to the cent ("36.00"),
so no client ever parses an amount into a binary float."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import PlainSerializer, WithJsonSchema

from hm_core.billing.domain import money

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
    encounter: uuid.UUID
    lines: list[InvoiceLineOut]
    total: Money
    currency: str
    status: Literal["OPEN", "FINAL", "VOID"]
