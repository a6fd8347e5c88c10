"""Order read-model projections, including item progress reported by lab events.

Lab owns what happens to a specimen and a result and says so in its own events
(`lab.sample_received`, `lab.sample_rejected`, `lab.result_entered`); this module owns the order
item's status, its vocabulary (`orders.events.ITEM_*`, the one place the values are declared)
and the table that holds it. So orders subscribes to lab's events, rather than a lab projection
writing order items through a function offered by orders, because:
- one module writes `OrderItem`: `rebuild_projections orders` replays exactly the subscribers
  registered under `orders` (hm_core.events.replay), so item progress is rebuilt with the item;
  a lab projection writing it would leave a rebuilt `orders` at ORDERED until lab was rebuilt too;
- lab knows nothing of how orders stores progress: it only publishes facts, no extra
  `order.item_*` events double every lab step, and the dependency is on lab's event vocabulary
  only (`hm_core.lab.events`, which STYLE §2 allows), never on lab's statuses or models.
Lab, in turn, reads item statuses through `orders.selectors` and compares them with the
`orders.events.ITEM_*` constants instead of re-declaring the strings.
"""

from __future__ import annotations

import uuid

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.lab.events import ResultEntered, SampleReceived, SampleRejected
from hm_core.orders import domain
from hm_core.orders.events import (
    OrderCancelled,
    OrderItemCompleted,
    OrderItemImaged,
    OrderPlaced,
)
from hm_core.orders.models import Order, OrderItem

rebuildable("orders", Order, OrderItem)


@subscribe(OrderPlaced)
def order_apply_placed(event: OrderPlaced, meta: EventMeta) -> None:
    scope = {"tenant_id": meta.tenant_id, "facility_id": meta.facility_id}
    upsert(
        Order,
        id=event.order_id,
        defaults={
            **scope,
            "encounter_id": event.encounter_id,
            "patient_id": event.patient_id,
            "order_type": event.order_type,
            "priority": event.priority,
            "placer_order_number": event.placer_order_number,
            "status": domain.PLACED,
            "ordered_by_id": meta.actor_id,
            "ordered_by": meta.actor_username,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )
    for position, item in enumerate(event.items):
        upsert(
            OrderItem,
            id=item.item_id,
            defaults={
                **scope,
                "order_id": event.order_id,
                "encounter_id": event.encounter_id,
                "patient_id": event.patient_id,
                "service_code": item.service_code,
                "name": item.name,
                "loinc_code": item.loinc_code,
                "specimen_type": item.specimen_type,
                "price": item.price,
                "currency": item.currency,
                "status": domain.ITEM_ORDERED,
                "position": position,
                "accession_number": item.accession_number,
            },
        )


@subscribe(OrderCancelled)
def order_apply_cancelled(event: OrderCancelled, meta: EventMeta) -> None:
    _items_set(meta, event.item_ids, domain.ITEM_CANCELLED)
    update(
        Order.all_tenants.filter(tenant_id=meta.tenant_id, id=event.order_id),
        cancel_reason=event.reason,
        version=meta.stream_version,
    )
    _status_refresh(meta, event.order_id)


@subscribe(SampleReceived)
def order_items_apply_sample_received(event: SampleReceived, meta: EventMeta) -> None:
    _items_set(meta, event.item_ids, domain.ITEM_COLLECTED, only_from=(domain.ITEM_ORDERED,))


@subscribe(SampleRejected)
def order_items_apply_sample_rejected(event: SampleRejected, meta: EventMeta) -> None:
    """Rejected specimen: the items wait for the recollected one."""
    _items_set(meta, event.item_ids, domain.ITEM_ORDERED, only_from=(domain.ITEM_COLLECTED,))


@subscribe(ResultEntered)
def order_item_apply_result_entered(event: ResultEntered, meta: EventMeta) -> None:
    _items_set(meta, [event.order_item_id], domain.ITEM_RESULTED)
    _status_refresh(meta, event.order_id)


@subscribe(OrderItemImaged)
def order_item_apply_images_available(event: OrderItemImaged, meta: EventMeta) -> None:
    _items_set(meta, [event.item_id], domain.ITEM_IMAGES_AVAILABLE)
    _version_set(meta, event.order_id)


@subscribe(OrderItemCompleted)
def order_item_apply_completed(event: OrderItemCompleted, meta: EventMeta) -> None:
    _items_set(meta, [event.item_id], domain.ITEM_COMPLETED)
    _version_set(meta, event.order_id)
    _status_refresh(meta, event.order_id)


def _version_set(meta: EventMeta, order_id: uuid.UUID) -> None:
    Order.all_tenants.filter(tenant_id=meta.tenant_id, id=order_id).update(
        version=meta.stream_version, updated_at=meta.occurred_at
    )


def _items_set(
    meta: EventMeta, item_ids: list[uuid.UUID], status: str, only_from: tuple[str, ...] = ()
) -> None:
    items = OrderItem.all_tenants.filter(tenant_id=meta.tenant_id, id__in=item_ids)
    if only_from:
        items = items.filter(status__in=only_from)
    update(items, status=status)


def _status_refresh(meta: EventMeta, order_id: uuid.UUID) -> None:
    """All items cancelled → CANCELLED; every item resulted, completed or cancelled → COMPLETED."""
    statuses = set(
        OrderItem.all_tenants.filter(tenant_id=meta.tenant_id, order_id=order_id).values_list(
            "status", flat=True
        )
    )
    status = domain.PLACED
    if statuses == {domain.ITEM_CANCELLED}:
        status = domain.CANCELLED
    elif statuses <= domain.DONE_ITEMS:
        status = domain.COMPLETED
    update(
        Order.all_tenants.filter(tenant_id=meta.tenant_id, id=order_id),
        status=status,
        updated_at=meta.occurred_at,
    )
