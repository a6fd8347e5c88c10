"""Order write use-cases: place and cancel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction

from hm_core.catalog.selectors import services_by_code
from hm_core.common.db import violates
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters.selectors import encounter_get
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.events.unit_of_work import written_row
from hm_core.orders import domain
from hm_core.orders.errors import DuplicatePlacerOrderNumber
from hm_core.orders.models import PLACER_NUMBER_CONSTRAINT, Order
from hm_core.orders.selectors import (
    order_get,
    order_item_get,
    order_items,
    order_placer_number_taken,
)

STREAM = "order"


@contextmanager
def _unique_placer_number(placer_order_number: str) -> Iterator[None]:
    """Turn the database's unique placer number violation (a lost race) into 409."""
    try:
        yield
    except IntegrityError as exc:
        if violates(
            exc, constraint=PLACER_NUMBER_CONSTRAINT, columns=("tenant_id", "placer_order_number")
        ):
            raise DuplicatePlacerOrderNumber(
                details={"placer_order_number": placer_order_number}
            ) from exc
        raise


def _placer_number(scope: Scope, given: str) -> str:
    """The number the client gave (409 when the tenant has it already), else a new one."""
    if not given:
        return domain.new_placer_order_number()
    if order_placer_number_taken(scope=scope, placer_order_number=given):
        raise DuplicatePlacerOrderNumber(details={"placer_order_number": given})
    return given


def order_place(
    *,
    scope: Scope,
    encounter_id: uuid.UUID,
    order_type: str,
    priority: str,
    service_codes: list[str],
    placer_order_number: str = "",
) -> Order:
    """Order catalog services for an open encounter; unknown codes are refused by name (422);
    the placer order number is unique per tenant (409 `duplicate_placer_order_number`)."""
    scope.require("orders.place")
    with scope_active(scope), _unique_placer_number(placer_order_number), transaction.atomic():
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
            placer_order_number=_placer_number(scope, placer_order_number),
        )
        publish(scope=scope, stream=StreamRef(STREAM, order_id), expected_version=0, events=events)
        # The row its projection wrote, not read back.
        return written_row(Order, order_id) or order_get(scope=scope, order_id=order_id)


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


def order_item_images_available(
    *, scope: Scope, item_id: uuid.UUID, study_instance_uid: str
) -> Order:
    """Move an ORDERED imaging item to IMAGES_AVAILABLE (its study's first instance arrived)."""
    item = order_item_get(scope=scope, item_id=item_id)
    return run_command(
        scope=scope,
        permission="imaging.store",
        stream_type=STREAM,
        load=lambda: order_get(scope=scope, order_id=item.order_id),
        decide=lambda order: domain.images_available(
            _state(scope, order), item_id=item_id, study_instance_uid=study_instance_uid
        ),
        expected_version=None,
    )


def order_item_complete(*, scope: Scope, item_id: uuid.UUID, document_id: uuid.UUID) -> Order:
    """Complete an imaging item whose radiology report was signed."""
    item = order_item_get(scope=scope, item_id=item_id)
    return run_command(
        scope=scope,
        permission="documents.sign",
        stream_type=STREAM,
        load=lambda: order_get(scope=scope, order_id=item.order_id),
        decide=lambda order: domain.complete_item(
            _state(scope, order), item_id=item_id, document_id=document_id
        ),
        expected_version=None,
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
