"""Order decisions — pure Python.

An order belongs to an open encounter (SCHEDULED, CHECKED_IN or IN_CONSULT). Every item must be
an active catalog service of the order's type. Cancelling cancels the items that have no result
yet; an order whose items are all resulted or cancelled cannot be cancelled.

Other systems name an order by its placer order number (HL7 EI, at most 22 characters) and an
imaging study by its accession number (at most 16): both are generated here when not given,
as short readable random strings (Crockford base 32: no I, L, O or U to misread); uniqueness
per tenant is the service's and the database's to enforce.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from hm_core.catalog.selectors import ServiceSpec
from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.orders.events import (
    ITEM_CANCELLED,
    ITEM_COLLECTED,
    ITEM_COMPLETED,
    ITEM_IMAGES_AVAILABLE,
    ITEM_ORDERED,
    ITEM_RESULTED,
    OrderCancelled,
    OrderedItem,
    OrderItemCompleted,
    OrderItemImaged,
    OrderPlaced,
)

OPEN_ENCOUNTER = ("SCHEDULED", "CHECKED_IN", "IN_CONSULT")
PLACED, CANCELLED, COMPLETED = "PLACED", "CANCELLED", "COMPLETED"
CANCELLABLE_ITEMS = (ITEM_ORDERED, ITEM_COLLECTED)
DONE_ITEMS = frozenset({ITEM_CANCELLED, ITEM_RESULTED, ITEM_COMPLETED})
IMAGING = "IMAGING"
PLACER_NUMBER_MAX_LENGTH, ACCESSION_NUMBER_MAX_LENGTH = 22, 16
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_number(prefix: str, length: int) -> str:
    """`prefix` + `length` random Crockford base-32 characters, e.g. `HM7Q2X9K0M4T`."""
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(length))


def new_placer_order_number() -> str:
    return new_number("HM", 10)


def new_accession_number() -> str:
    return new_number("A", 12)


@dataclass(frozen=True)
class ItemState:
    item_id: uuid.UUID
    service_code: str
    status: str


@dataclass(frozen=True)
class OrderState:
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    status: str
    version: int
    items: tuple[ItemState, ...]


def place(
    *,
    order_id: uuid.UUID,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    encounter_status: str,
    order_type: str,
    priority: str,
    codes: list[str],
    catalog: dict[str, ServiceSpec],
    placer_order_number: str,
) -> list[OrderPlaced]:
    """Check the encounter is open and every code is a known service of the order's type;
    imaging items get an accession number each."""
    if encounter_status not in OPEN_ENCOUNTER:
        raise InvalidTransition(
            f"Cannot order for an encounter that is {encounter_status}.",
            details={"from": encounter_status, "action": "place an order for"},
        )
    _check_codes(codes, catalog, order_type)
    accession = order_type == IMAGING
    items = [_item(catalog[code], accession=accession) for code in codes]
    return [
        OrderPlaced(
            order_id=order_id,
            encounter_id=encounter_id,
            patient_id=patient_id,
            order_type=order_type,
            priority=priority,
            items=items,
            placer_order_number=placer_order_number,
        )
    ]


def _check_codes(codes: list[str], catalog: dict[str, ServiceSpec], order_type: str) -> None:
    problems = []
    for index, code in enumerate(codes):
        field = f"items.{index}.service_code"
        spec = catalog.get(code)
        if spec is None:
            problems.append({"field": field, "message": f"unknown service code {code!r}"})
        elif spec.order_type != order_type:
            problems.append(
                {
                    "field": field,
                    "message": f"{code!r} is a {spec.order_type} service, not {order_type}",
                }
            )
        elif codes.index(code) != index:
            problems.append({"field": field, "message": f"{code!r} is ordered twice"})
    if problems:
        raise ValidationFailed("Some ordered services are not valid.", details=problems)


def _item(spec: ServiceSpec, *, accession: bool) -> OrderedItem:
    return OrderedItem(
        item_id=uuid.uuid4(),
        service_code=spec.code,
        name=spec.name,
        loinc_code=spec.loinc_code,
        specimen_type=spec.specimen_type,
        price=spec.price,
        currency=spec.currency,
        accession_number=new_accession_number() if accession else "",
    )


def cancel(state: OrderState, *, reason: str) -> list[OrderCancelled]:
    """Cancel every item that has no result yet."""
    cancellable = [item for item in state.items if item.status in CANCELLABLE_ITEMS]
    if state.status != PLACED or not cancellable:
        raise InvalidTransition(
            "Nothing left to cancel on this order.",
            details={
                "from": state.status,
                "items": {i.service_code: i.status for i in state.items},
            },
        )
    return [
        OrderCancelled(
            order_id=state.order_id,
            encounter_id=state.encounter_id,
            patient_id=state.patient_id,
            item_ids=[item.item_id for item in cancellable],
            service_codes=[item.service_code for item in cancellable],
            reason=reason,
        )
    ]


def _imaging_item(state: OrderState, item_id: uuid.UUID, *, allowed: tuple[str, ...]) -> ItemState:
    item = next((i for i in state.items if i.item_id == item_id), None)
    if item is None or item.status not in allowed:
        raise InvalidTransition(
            "The imaging item is not in a state that allows this.",
            details={"from": item.status if item else None, "item": str(item_id)},
        )
    return item


def images_available(
    state: OrderState, *, item_id: uuid.UUID, study_instance_uid: str
) -> list[OrderItemImaged]:
    """An ORDERED imaging item whose study's first instance arrived."""
    item = _imaging_item(state, item_id, allowed=(ITEM_ORDERED,))
    return [
        OrderItemImaged(
            order_id=state.order_id,
            encounter_id=state.encounter_id,
            patient_id=state.patient_id,
            item_id=item.item_id,
            service_code=item.service_code,
            study_instance_uid=study_instance_uid,
        )
    ]


def complete_item(
    state: OrderState, *, item_id: uuid.UUID, document_id: uuid.UUID
) -> list[OrderItemCompleted]:
    """An imaging item (scheduled or with images) whose report was signed."""
    item = _imaging_item(state, item_id, allowed=(ITEM_ORDERED, ITEM_IMAGES_AVAILABLE))
    return [
        OrderItemCompleted(
            order_id=state.order_id,
            encounter_id=state.encounter_id,
            patient_id=state.patient_id,
            item_id=item.item_id,
            service_code=item.service_code,
            document_id=document_id,
        )
    ]
