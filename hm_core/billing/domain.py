"""Billing decisions and money arithmetic — pure Python, Decimal only (never float).

An account belongs to one encounter: OPEN while the visit runs, FINAL once it is closed, VOID
when it is cancelled. Charges are posted (consultation, ordered items) and reversed (cancelled
items); the invoice lists the active charges in posting order and totals them to the cent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from hm_core.billing.errors import MixedCurrency
from hm_core.billing.events import ChargePosted, ChargeReversed

OPEN, FINAL, VOID = "OPEN", "FINAL", "VOID"
ACTIVE, REVERSED = "ACTIVE", "REVERSED"
CONSULT_CODE = "CONSULT"
# Every currency hm_core bills in has a minor unit of 1/100 (USD, EUR, INR, KES, ...).
MINOR_UNIT = Decimal("0.01")
# Namespace of account stream ids: uuid5(namespace, encounter id) is stable, so replays agree.
ACCOUNT_NAMESPACE = uuid.UUID("6f1c3b1e-5d7a-4c51-9b0e-2a8f4d6c9e11")


def account_stream_id(encounter_id: uuid.UUID) -> uuid.UUID:
    """The id of the encounter's account stream: distinct from the encounter's own stream."""
    return uuid.uuid5(ACCOUNT_NAMESPACE, str(encounter_id))


def money(value: Decimal) -> Decimal:
    """`value` rounded to the currency's minor unit (half up, as tills and ledgers do)."""
    return value.quantize(MINOR_UNIT, rounding=ROUND_HALF_UP)


def line_amount(*, quantity: int, unit_price: Decimal) -> Decimal:
    """Quantity times unit price, to the cent."""
    return money(unit_price * quantity)


@dataclass(frozen=True)
class ChargeSpec:
    """What to charge: a service code with its description, quantity and price as of now."""

    code: str
    description: str
    unit_price: Decimal
    currency: str
    quantity: int = 1
    order_item_id: uuid.UUID | None = None


def post(
    *,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    charges: Sequence[ChargeSpec],
    charge_ids: Sequence[uuid.UUID],
) -> list[ChargePosted]:
    """One ChargePosted per spec; a quantity below 1 or a negative price is a programming error."""
    for spec in charges:
        if spec.quantity < 1 or spec.unit_price < 0:
            raise ValueError(f"invalid charge {spec}")
    return [
        ChargePosted(
            charge_id=charge_id,
            encounter_id=encounter_id,
            patient_id=patient_id,
            code=spec.code,
            description=spec.description,
            quantity=spec.quantity,
            unit_price=money(spec.unit_price),
            currency=spec.currency,
            order_item_id=spec.order_item_id,
        )
        for spec, charge_id in zip(charges, charge_ids, strict=True)
    ]


@dataclass(frozen=True)
class PostedCharge:
    """A charge as the account holds it."""

    charge_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    code: str
    status: str


def reverse(charges: Iterable[PostedCharge], *, reason: str) -> list[ChargeReversed]:
    """Reverse the active charges among `charges`; reversing twice changes nothing."""
    return [
        ChargeReversed(
            charge_id=c.charge_id,
            encounter_id=c.encounter_id,
            patient_id=c.patient_id,
            reason=f"{c.code} {reason}",
        )
        for c in charges
        if c.status == ACTIVE
    ]


@dataclass(frozen=True)
class InvoiceLine:
    code: str
    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Invoice:
    encounter: uuid.UUID
    lines: list[InvoiceLine]
    total: Decimal
    currency: str
    status: str


def invoice(
    *, encounter_id: uuid.UUID, lines: list[InvoiceLine], status: str, default_currency: str
) -> Invoice:
    """Total the active lines; lines in two currencies have no total (409 `mixed_currency`).

    The currency is the one the lines were charged in (a later change of the tenant's currency
    does not relabel a past visit); an invoice without lines is in the tenant's currency.
    """
    currencies = sorted({line.currency for line in lines})
    if len(currencies) > 1:
        raise MixedCurrency(details={"currencies": currencies})
    total = money(sum((line.amount for line in lines), Decimal("0")))
    currency = currencies[0] if currencies else default_currency
    return Invoice(encounter_id, lines, total, currency, status)
