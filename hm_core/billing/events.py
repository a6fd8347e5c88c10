"""Billing events. Stream: ("account", account_id), facility-scoped, one account per encounter.

The account stream id is derived from the encounter id (`domain.account_stream_id`), never the
encounter id itself: the store numbers versions per stream id, so sharing the encounter's id
would make every charge bump the encounter's version and fail the clinician's next command.
Each charge carries its price and currency as posted, so an invoice never depends on today's
catalog, and its id, so replaying the stream rebuilds the same lines.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar

from hm_core.events.base import DomainEvent


class ChargePosted(DomainEvent):
    """A billable service was charged to the encounter's account at the price of that moment."""

    event_type: ClassVar[str] = "billing.charge_posted"
    charge_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    code: str
    description: str
    quantity: int
    unit_price: Decimal
    currency: str
    order_item_id: uuid.UUID | None = None

    def summary(self) -> str:
        count = f"{self.quantity} x " if self.quantity != 1 else ""
        amount = (self.unit_price * self.quantity).quantize(Decimal("0.01"))
        return f"Charge posted: {count}{self.code} {self.description} {amount} {self.currency}"


class ChargeReversed(DomainEvent):
    """A posted charge no longer applies (its order item was cancelled): it leaves the invoice."""

    event_type: ClassVar[str] = "billing.charge_reversed"
    charge_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    reason: str

    def summary(self) -> str:
        return f"Charge reversed: {self.reason}"
