"""Order read use-cases."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.orders.events import ITEM_ORDERED
from hm_core.orders.models import Order, OrderItem


def order_get(*, scope: Scope, order_id: uuid.UUID) -> Order:
    order = Order.objects.for_scope(scope).filter(id=order_id).first()
    if order is None:
        raise NotFound(details={"resource": "order"})
    return order


def order_find_by_placer_number(*, scope: Scope, placer_order_number: str) -> Order | None:
    """The facility's order another system knows by its placer number (HL7 ORC-2/OBR-2)."""
    if not placer_order_number:
        return None
    return Order.objects.for_scope(scope).filter(placer_order_number=placer_order_number).first()


def order_placer_number_taken(*, scope: Scope, placer_order_number: str) -> bool:
    """Whether any order of the tenant, in any facility, carries this placer number."""
    return Order.objects.filter(
        tenant_id=scope.tenant_id, placer_order_number=placer_order_number
    ).exists()


def order_list(*, scope: Scope, encounter: uuid.UUID | None, status: str | None) -> QuerySet[Order]:
    """The facility's orders, newest first."""
    qs = Order.objects.for_scope(scope)
    if encounter is not None:
        qs = qs.filter(encounter_id=encounter)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "id")


def order_items(*, scope: Scope, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[OrderItem]]:
    """Items of several orders in one query, in ordered sequence."""
    grouped: dict[uuid.UUID, list[OrderItem]] = defaultdict(list)
    rows = OrderItem.objects.for_scope(scope).filter(order_id__in=order_ids).order_by("position")
    for item in rows:
        grouped[item.order_id].append(item)
    return grouped


def order_item_get(*, scope: Scope, item_id: uuid.UUID) -> OrderItem:
    item = OrderItem.objects.for_scope(scope).filter(id=item_id).first()
    if item is None:
        raise NotFound(details={"resource": "order_item"})
    return item


def order_item_find_by_accession(*, scope: Scope, accession_number: str) -> OrderItem | None:
    """The facility's IMAGING item another system (a modality, a PACS) names by accession."""
    if not accession_number:
        return None
    return OrderItem.objects.for_scope(scope).filter(accession_number=accession_number).first()


@dataclass(frozen=True)
class ScheduledImaging:
    """An IMAGING item still waiting for its images, with its order's facts."""

    item: OrderItem
    ordered_at: datetime
    priority: str
    placer_order_number: str


def imaging_scheduled(
    *,
    scope: Scope,
    accession_number: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[ScheduledImaging]:
    """The facility's ORDERED imaging items (the modality worklist), oldest first; two queries."""
    items = (
        OrderItem.objects.for_scope(scope).filter(status=ITEM_ORDERED).exclude(accession_number="")
    )
    if accession_number:
        items = items.filter(accession_number=accession_number)
    orders = Order.objects.for_scope(scope).filter(order_type="IMAGING", status="PLACED")
    if since is not None:
        orders = orders.filter(created_at__gte=since)
    if until is not None:
        orders = orders.filter(created_at__lt=until)
    by_id = {o.id: o for o in orders.filter(id__in=items.values("order_id"))}
    rows = items.filter(order_id__in=list(by_id)).order_by("order_id", "position")[:limit]
    found = [_scheduled(item, by_id[item.order_id]) for item in rows]
    return sorted(found, key=lambda s: (s.ordered_at, s.item.position))


def _scheduled(item: OrderItem, order: Order) -> ScheduledImaging:
    return ScheduledImaging(item, order.created_at, order.priority, order.placer_order_number)


def order_item_list(*, scope: Scope) -> QuerySet[OrderItem]:
    """The facility's order items (FHIR ServiceRequests)."""
    return OrderItem.objects.for_scope(scope)


def orders_by_ids(*, scope: Scope, order_ids: set[uuid.UUID]) -> dict[uuid.UUID, Order]:
    """The facility's orders among `order_ids`, in one query."""
    return {o.id: o for o in Order.objects.for_scope(scope).filter(id__in=order_ids)}


def order_patient_ids_open_by(*, tenant_id: uuid.UUID, user_id: uuid.UUID) -> QuerySet[Any, Any]:
    """Patient ids of the user's open (PLACED) orders, any facility: a lazy subquery for the
    confidential-patient care-team rule (contract §18)."""
    qs = Order.objects.filter(tenant_id=tenant_id, ordered_by_id=user_id, status="PLACED")
    return qs.values("patient_id")
