"""Charges from the clinical workflow: the consultation and ordered items are charged, cancelled
items reversed (skipped on replay: the charge events themselves are replayed)."""

from __future__ import annotations

from hm_core.billing import domain
from hm_core.billing.services import (
    charge_post,
    charges_reverse_for_order_items,
    consult_charge_post,
)
from hm_core.encounters.events import ConsultStarted
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.orders.events import OrderCancelled, OrderPlaced


@subscribe(ConsultStarted, stage=Stage.POLICY)
def consult_charge_when_consult_started(event: ConsultStarted, meta: EventMeta) -> None:
    """The consultation is billable once it has begun (not at booking: no-shows are free)."""
    consult_charge_post(
        scope=meta.scope, encounter_id=event.encounter_id, patient_id=event.patient_id
    )


@subscribe(OrderPlaced, stage=Stage.POLICY)
def order_charges_when_order_placed(event: OrderPlaced, meta: EventMeta) -> None:
    """One charge per item, at the price and currency the order captured from the catalog."""
    charges = [
        domain.ChargeSpec(
            code=item.service_code,
            description=item.name,
            unit_price=item.price,
            currency=item.currency,
            order_item_id=item.item_id,
        )
        for item in event.items
    ]
    charge_post(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        charges=charges,
    )


@subscribe(OrderCancelled, stage=Stage.POLICY)
def order_charges_reverse_when_order_cancelled(event: OrderCancelled, meta: EventMeta) -> None:
    """Cancelled items are not charged: their charges are reversed."""
    charges_reverse_for_order_items(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        order_item_ids=event.item_ids,
        reason="order item cancelled" + (f": {event.reason}" if event.reason else ""),
    )
