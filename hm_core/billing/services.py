"""Billing use-cases: the workflow posts and reverses charges; clerks read invoices.

Posting and reversing are called by `policies.py` in the transaction of the clinical event
that caused them, so a charge exists exactly when its consultation or order does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from django.db import transaction

from hm_core.audit.services import audited_read
from hm_core.billing import domain
from hm_core.billing.selectors import charges_of_order_items, invoice_get
from hm_core.catalog.selectors import service_by_code
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters.selectors import encounter_get
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.iam.selectors import tenant_currency

STREAM = "account"
logger = logging.getLogger(__name__)


def _publish(*, scope: Scope, encounter_id: uuid.UUID, events: Sequence[DomainEvent]) -> None:
    # No expected version: charges only add to the account, and the tenant's append lock
    # already serialises every append, so there is no lost update to detect.
    stream = StreamRef(STREAM, domain.account_stream_id(encounter_id))
    publish(scope=scope, stream=stream, expected_version=None, events=events)


def charge_post(
    *, scope: Scope, encounter_id: uuid.UUID, charges: Sequence[domain.ChargeSpec]
) -> list[uuid.UUID]:
    """Charge services to the encounter's account at the given prices; returns the charge ids."""
    with scope_active(scope), transaction.atomic():
        encounter = encounter_get(scope=scope, encounter_id=encounter_id)
        charge_ids = [uuid.uuid4() for _ in charges]
        events = domain.post(
            encounter_id=encounter.id,
            patient_id=encounter.patient_id,
            charges=charges,
            charge_ids=charge_ids,
        )
        if events:
            _publish(scope=scope, encounter_id=encounter.id, events=events)
        return charge_ids


def consult_charge_post(*, scope: Scope, encounter_id: uuid.UUID) -> uuid.UUID | None:
    """Charge the OPD consultation at the tenant's catalog price, in the tenant's currency.

    A tenant whose catalog lacks CONSULT is not charged (and warned about in the log): a
    billing gap must never stop a clinician from seeing a patient.
    """
    spec = service_by_code(tenant_id=scope.tenant_id, code=domain.CONSULT_CODE)
    if spec is None:
        logger.warning(
            "tenant %s has no active %s service in its catalog: consultation of encounter %s "
            "not charged",
            scope.tenant_id,
            domain.CONSULT_CODE,
            encounter_id,
        )
        return None
    charge = domain.ChargeSpec(
        code=spec.code,
        description=spec.name,
        unit_price=spec.price,
        currency=tenant_currency(tenant_id=scope.tenant_id),
    )
    return charge_post(scope=scope, encounter_id=encounter_id, charges=[charge])[0]


def charges_reverse_for_order_items(
    *, scope: Scope, encounter_id: uuid.UUID, order_item_ids: list[uuid.UUID], reason: str
) -> int:
    """Reverse the active charges of these order items; returns how many were reversed."""
    with scope_active(scope), transaction.atomic():
        charges = charges_of_order_items(
            scope=scope, encounter_id=encounter_id, order_item_ids=order_item_ids
        )
        events = domain.reverse(charges, reason=reason)
        if events:
            _publish(scope=scope, encounter_id=encounter_id, events=events)
        return len(events)


def invoice_view(*, scope: Scope, encounter_id: uuid.UUID) -> domain.Invoice:
    """The encounter's invoice; reading it discloses the patient's care, so it is audited."""
    _, invoice = audited_read(
        scope=scope,
        permission="billing.view",
        action="invoice.viewed",
        load=lambda: _invoice_of(scope, encounter_id),
        patient_of=lambda loaded: loaded[0],
        detail=lambda _: {"encounter_id": str(encounter_id)},
    )
    return invoice


def _invoice_of(scope: Scope, encounter_id: uuid.UUID) -> tuple[uuid.UUID, domain.Invoice]:
    """The encounter's patient and invoice (404 when the encounter is not in scope)."""
    encounter = encounter_get(scope=scope, encounter_id=encounter_id)
    currency = tenant_currency(tenant_id=scope.tenant_id)
    invoice = invoice_get(scope=scope, encounter_id=encounter.id, default_currency=currency)
    return encounter.patient_id, invoice
