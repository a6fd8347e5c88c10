"""Order events. Stream: ("order", order_id), facility-scoped, attached to an encounter.

Each item carries the catalog facts it was ordered at (name, specimen, price, currency), so
billing and history never depend on today's catalog.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from hm_core.events.base import DomainEvent


class OrderedItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: uuid.UUID
    service_code: str
    name: str
    loinc_code: str = ""
    specimen_type: str = ""
    price: Decimal
    currency: str


class OrderPlaced(DomainEvent):
    """A clinician ordered lab tests, imaging or procedures for an encounter."""

    event_type: ClassVar[str] = "order.placed"
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    order_type: str
    priority: str
    items: list[OrderedItem]

    def summary(self) -> str:
        codes = ", ".join(item.service_code for item in self.items)
        return f"{self.order_type.title()} order placed ({self.priority}): {codes}"


class OrderCancelled(DomainEvent):
    """Items not yet resulted were cancelled (the whole order when none was resulted)."""

    event_type: ClassVar[str] = "order.cancelled"
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    item_ids: list[uuid.UUID]
    service_codes: list[str]
    reason: str = ""

    def summary(self) -> str:
        return f"Order cancelled: {', '.join(self.service_codes)}" + (
            f" ({self.reason})" if self.reason else ""
        )
