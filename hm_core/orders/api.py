"""Contract §7: orders — place, list, detail, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, set_etag
from hm_core.common.scope import Scope, scope_active
from hm_core.orders import services
from hm_core.orders.models import Order
from hm_core.orders.schemas import (
    OrderCancelIn,
    OrderListFilters,
    OrderOut,
    OrderPageOut,
    OrderPlaceIn,
)
from hm_core.orders.selectors import order_get, order_items, order_list

router = Router(tags=["orders"])


def _with_items(scope: Scope, orders: list[Order]) -> list[Order]:
    """Attach each order's items for `OrderOut`: one query for any number of orders."""
    with scope_active(scope):
        items = order_items(scope=scope, order_ids=[o.id for o in orders])
    for order in orders:
        order.item_list = items.get(order.id, [])  # type: ignore[attr-defined]
    return orders


@router.post("/", response={201: OrderOut, **ERRORS})
def order_place(
    request: HttpRequest, payload: OrderPlaceIn, response: HttpResponse
) -> Status[Order]:
    """Place a LAB, IMAGING or PROCEDURE order; a LAB order creates its samples."""
    scope = scope_of(request)
    order = services.order_place(
        scope=scope,
        encounter_id=payload.encounter,
        order_type=payload.order_type,
        priority=payload.priority,
        service_codes=[item.service_code for item in payload.items],
        placer_order_number=payload.placer_order_number or "",
    )
    set_etag(response, order.version)
    return Status(201, _with_items(scope, [order])[0])


@router.get("/", response={200: OrderPageOut, **ERRORS})
def order_list_page(request: HttpRequest, filters: Query[OrderListFilters]) -> dict[str, Any]:
    """The facility's orders, `?encounter=&status=`."""
    scope = scope_of(request)
    scope.require("orders.view")
    with scope_active(scope):
        qs = order_list(scope=scope, encounter=filters.encounter, status=filters.status)
        page = list(qs[filters.offset : filters.offset + filters.limit])
        return {"items": _with_items(scope, page), "count": qs.count()}


@router.get("/{order_id}/", response={200: OrderOut, **ERRORS})
def order_view(request: HttpRequest, order_id: uuid.UUID, response: HttpResponse) -> Order:
    """One order with its items."""
    scope = scope_of(request)
    scope.require("orders.view")
    with scope_active(scope):
        order = order_get(scope=scope, order_id=order_id)
    set_etag(response, order.version)
    return _with_items(scope, [order])[0]


@router.post("/{order_id}/cancel/", response={200: OrderOut, **ERRORS})
def order_cancel(
    request: HttpRequest,
    order_id: uuid.UUID,
    response: HttpResponse,
    payload: OrderCancelIn | None = Body(None),  # noqa: B008 - Ninja's way to declare a body
) -> Order:
    """Cancel the items that have no result yet."""
    scope = scope_of(request)
    order = services.order_cancel(
        scope=scope,
        order_id=order_id,
        reason=payload.reason if payload else "",
        expected_version=if_match(request),
    )
    set_etag(response, order.version)
    return _with_items(scope, [order])[0]
