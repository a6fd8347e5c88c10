"""Order write use-cases: place and cancel."""

from __future__ import annotations

import uuid

from django.db import transaction

from hm_core.catalog.selectors import services_by_code
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters.selectors import encounter_get
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.orders import domain
from hm_core.orders.models import Order
from hm_core.orders.selectors import order_get, order_items

STREAM = "order"


def order_place(
    *,
    scope: Scope,
    encounter_id: uuid.UUID,
    order_type: str,
    priority: str,
    service_codes: list[str],
) -> Order:
    """Order catalog services for an open encounter; unknown codes are refused by name (422)."""
    scope.require("orders.place")
    with scope_active(scope), transaction.atomic():
        encounter = encounter_get(scope=scope, encounter_id=encounter_id)
        order_id = uuid.uuid4()
        events = domain.place(
            order_id=order_id,
            encounter_id=encounter.id,
            patient_id=encounter.patient_id,
            encounter_status=encounter.status,
            order_type=order_type,
            priority=priority,
            codes=service_codes,
            catalog=services_by_code(tenant_id=scope.tenant_id, codes=service_codes),
        )
        publish(scope=scope, stream=StreamRef(STREAM, order_id), expected_version=0, events=events)
        return order_get(scope=scope, order_id=order_id)


def order_cancel(
    *, scope: Scope, order_id: uuid.UUID, reason: str, expected_version: int | None = None
) -> Order:
    """Cancel the order's items that have no result yet."""
    return run_command(
        scope=scope,
        permission="orders.cancel",
        stream_type=STREAM,
        load=lambda: order_get(scope=scope, order_id=order_id),
        decide=lambda order: domain.cancel(_state(scope, order), reason=reason),
        expected_version=expected_version,
    )


def _state(scope: Scope, order: Order) -> domain.OrderState:
    items = order_items(scope=scope, order_ids=[order.id])[order.id]
    return domain.OrderState(
        order_id=order.id,
        encounter_id=order.encounter_id,
        patient_id=order.patient_id,
        status=order.status,
        version=order.version,
        items=tuple(domain.ItemState(i.id, i.service_code, i.status) for i in items),
    )
