"""Billing read-model projections: charge lines from charge events, account status from the
encounter's lifecycle. Replayable: keyed on ids the events carry, timestamps from the events."""

from __future__ import annotations

import uuid

from hm_core.billing import domain
from hm_core.billing.events import ChargePosted, ChargeReversed
from hm_core.billing.models import Account, ChargeLine
from hm_core.encounters.events import EncounterCancelled, EncounterClosed, EncounterCreated
from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import insert, update, upsert

rebuildable("billing", ChargeLine, Account)


@subscribe(EncounterCreated)
def account_apply_encounter_created(event: EncounterCreated, meta: EventMeta) -> None:
    """Every encounter opens an account, so an invoice exists before the first charge."""
    _account_ensure(meta, encounter_id=event.encounter_id, patient_id=event.patient_id)


@subscribe(EncounterClosed)
def account_apply_encounter_closed(event: EncounterClosed, meta: EventMeta) -> None:
    """A closed visit's account is final: what it holds is what is billed."""
    _account_ensure(meta, encounter_id=event.encounter_id, patient_id=event.patient_id)
    _account_set(meta, event, status=domain.FINAL)


@subscribe(EncounterCancelled)
def account_apply_encounter_cancelled(event: EncounterCancelled, meta: EventMeta) -> None:
    """A cancelled visit's account is void."""
    _account_ensure(meta, encounter_id=event.encounter_id, patient_id=event.patient_id)
    _account_set(meta, event, status=domain.VOID)


@subscribe(ChargePosted)
def charge_line_apply_posted(event: ChargePosted, meta: EventMeta) -> None:
    """Upsert the line keyed on the charge id; the amount is computed here, in Decimal."""
    _account_ensure(meta, encounter_id=event.encounter_id, patient_id=event.patient_id)
    upsert(
        ChargeLine,
        id=event.charge_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "encounter_id": event.encounter_id,
            "patient_id": event.patient_id,
            "code": event.code,
            "description": event.description,
            "quantity": event.quantity,
            "unit_price": event.unit_price,
            "amount": domain.line_amount(quantity=event.quantity, unit_price=event.unit_price),
            "currency": event.currency,
            "status": domain.ACTIVE,
            "order_item_id": event.order_item_id,
            "position": meta.position,
            "posted_at": meta.occurred_at,
        },
    )


@subscribe(ChargeReversed)
def charge_line_apply_reversed(event: ChargeReversed, meta: EventMeta) -> None:
    """The line stays, REVERSED, with when and why: it leaves the invoice, not the history."""
    update(
        ChargeLine.all_tenants.filter(tenant_id=meta.tenant_id, id=event.charge_id),
        status=domain.REVERSED,
        reversed_at=meta.occurred_at,
        reversal_reason=event.reason,
    )


def _account_ensure(meta: EventMeta, *, encounter_id: uuid.UUID, patient_id: uuid.UUID) -> None:
    """Create the OPEN account of an encounter unless it exists (encounters older than billing
    get theirs from their first billing-relevant event; a rebuild gives them the true one)."""
    insert(
        Account,
        Account(
            encounter_id=encounter_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            patient_id=patient_id,
            status=domain.OPEN,
            opened_at=meta.occurred_at,
        ),
    )


def _account_set(
    meta: EventMeta, event: EncounterClosed | EncounterCancelled, *, status: str
) -> None:
    update(
        Account.all_tenants.filter(tenant_id=meta.tenant_id, encounter_id=event.encounter_id),
        status=status,
        closed_at=meta.occurred_at,
    )
