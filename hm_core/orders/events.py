"""Order events. Stream: ("order", order_id), facility-scoped, attached to an encounter.

Each item carries the catalog facts it was ordered at (name, specimen, price, currency), so
billing and history never depend on today's catalog.

`order.placed` v2 added the order's `placer_order_number` (HL7 ORC-2/OBR-2, unique per tenant)
and each item's `accession_number` (IMAGING items; unique per tenant); a stored v1 payload is
upcast with both empty — such orders were placed before other systems could name them.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hm_core.events.base import DomainEvent, Upcaster

# The order-item status vocabulary, owned here and nowhere else. It is published with the
# events because other modules decide on it (lab: is the item still wanted, already resulted?;
# imaging: is it on the worklist?) when they read items through `orders.selectors`.
# LAB items: ORDERED → COLLECTED (sample received) → RESULTED (result entered); a rejected
# sample takes COLLECTED back to ORDERED. IMAGING items: ORDERED (on the modality worklist) →
# IMAGES_AVAILABLE (the first instance of its study arrived) → COMPLETED (report signed).
# Either may be CANCELLED while still ORDERED or COLLECTED.
ITEM_ORDERED, ITEM_COLLECTED, ITEM_RESULTED, ITEM_CANCELLED = (
    "ORDERED",
    "COLLECTED",
    "RESULTED",
    "CANCELLED",
)
ITEM_IMAGES_AVAILABLE, ITEM_COMPLETED = "IMAGES_AVAILABLE", "COMPLETED"
ITEM_STATUSES = (
    ITEM_ORDERED,
    ITEM_COLLECTED,
    ITEM_RESULTED,
    ITEM_CANCELLED,
    ITEM_IMAGES_AVAILABLE,
    ITEM_COMPLETED,
)


class OrderedItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: uuid.UUID
    service_code: str
    name: str
    loinc_code: str = ""
    specimen_type: str = ""
    price: Decimal
    currency: str
    accession_number: str = ""


def _placed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 orders had no placer order number and no accession numbers."""
    items = [{**item, "accession_number": ""} for item in payload.get("items", [])]
    return {**payload, "placer_order_number": "", "items": items}


class OrderPlaced(DomainEvent):
    """A clinician ordered lab tests, imaging or procedures for an encounter."""

    event_type: ClassVar[str] = "order.placed"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _placed_v1_to_v2}
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    order_type: str
    priority: str
    items: list[OrderedItem]
    placer_order_number: str = ""

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


class OrderItemImaged(DomainEvent):
    """The first image of an IMAGING item's study arrived (DICOM AccessionNumber matched)."""

    event_type: ClassVar[str] = "order.item_imaged"
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    item_id: uuid.UUID
    service_code: str
    study_instance_uid: str

    def summary(self) -> str:
        return f"Images available: {self.service_code}"


class OrderItemCompleted(DomainEvent):
    """The IMAGING item's radiology report was signed: the item is done."""

    event_type: ClassVar[str] = "order.item_completed"
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    item_id: uuid.UUID
    service_code: str
    document_id: uuid.UUID

    def summary(self) -> str:
        return f"Completed: {self.service_code} (report signed)"
