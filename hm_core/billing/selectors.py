"""Billing read use-cases over the charge lines and accounts."""

from __future__ import annotations

import uuid

from hm_core.billing import domain
from hm_core.billing.models import Account, ChargeLine
from hm_core.common.scope import Scope


def charge_lines_active(*, scope: Scope, encounter_id: uuid.UUID) -> list[ChargeLine]:
    """The encounter's charges still in force, in posting order (what the invoice lists)."""
    return list(
        ChargeLine.objects.for_scope(scope)
        .filter(encounter_id=encounter_id, status=domain.ACTIVE)
        .order_by("position")
    )


def charges_of_order_items(
    *, scope: Scope, encounter_id: uuid.UUID, order_item_ids: list[uuid.UUID]
) -> list[domain.PostedCharge]:
    """The encounter's charges for these order items, active or not, in posting order."""
    rows = (
        ChargeLine.objects.for_scope(scope)
        .filter(encounter_id=encounter_id, order_item_id__in=order_item_ids)
        .order_by("position")
    )
    return [
        domain.PostedCharge(row.id, row.encounter_id, row.patient_id, row.code, row.status)
        for row in rows
    ]


def account_status(*, scope: Scope, encounter_id: uuid.UUID) -> str:
    """OPEN, FINAL or VOID; OPEN for an encounter billing has not seen an event of yet."""
    status = (
        Account.objects.for_scope(scope)
        .filter(encounter_id=encounter_id)
        .values_list("status", flat=True)
        .first()
    )
    return status or domain.OPEN


def invoice_get(*, scope: Scope, encounter_id: uuid.UUID, default_currency: str) -> domain.Invoice:
    """The encounter's invoice: active lines, their total to the cent, the account's status."""
    lines = [
        domain.InvoiceLine(
            row.code, row.description, row.quantity, row.unit_price, row.amount, row.currency
        )
        for row in charge_lines_active(scope=scope, encounter_id=encounter_id)
    ]
    return domain.invoice(
        encounter_id=encounter_id,
        lines=lines,
        status=account_status(scope=scope, encounter_id=encounter_id),
        default_currency=default_currency,
    )
