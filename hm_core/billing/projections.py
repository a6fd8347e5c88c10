"""Billing read-model projections: charge lines from charge events, account status from the
encounter's lifecycle. Replayable: keyed on ids the events carry, timestamps from the events."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from hm_core.billing import domain, member_ids
from hm_core.billing.events import (
    ChargePosted,
    ChargeReversed,
    ClaimAdjudicated,
    ClaimCreated,
    ClaimSubmitted,
    CoverageAdded,
    PayerCreated,
    PaymentRecorded,
)
from hm_core.billing.models import Account, ChargeLine, Claim, Coverage, Payer, Payment
from hm_core.common.crypto import rotator
from hm_core.encounters.events import EncounterCancelled, EncounterClosed, EncounterCreated
from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import insert, update, upsert

rebuildable("billing", ChargeLine, Account, Payer, Coverage, Claim, Payment)


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
            invoice_id=domain.account_stream_id(encounter_id),
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


@subscribe(PayerCreated)
def payer_apply_created(event: PayerCreated, meta: EventMeta) -> None:
    upsert(
        Payer,
        id=event.payer_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "name": event.name,
            "payer_code": event.payer_code,
            "kind": event.kind,
            "created_at": meta.occurred_at,
        },
    )


@subscribe(CoverageAdded)
def coverage_apply_added(event: CoverageAdded, meta: EventMeta) -> None:
    upsert(
        Coverage,
        id=event.coverage_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            **event.model_dump(exclude={"coverage_id"}),
            "created_at": meta.occurred_at,
        },
    )


ROTATION_BATCH = 500


@rotator("billing_coverages")
def coverage_rotate_field_keys() -> int:
    """Re-encrypt every coverage's member id with the first key (a plaintext one left from
    before encryption is sealed); batches of rows, each in its own transaction."""
    # Cross-tenant on purpose: key rotation is a platform operation over every tenant's rows.
    rows = Coverage.all_tenants.order_by("pk").only("pk", "member_id")
    done, batch = 0, []
    for row in rows.iterator(chunk_size=ROTATION_BATCH):
        row.member_id = member_ids.member_id_rotated(row.member_id)
        batch.append(row)
        if len(batch) == ROTATION_BATCH:
            done += _save_rotated(batch)
            batch = []
    return done + _save_rotated(batch)


def _save_rotated(batch: list[Coverage]) -> int:
    with transaction.atomic():
        Coverage.all_tenants.bulk_update(batch, ["member_id"])
    return len(batch)


@subscribe(ClaimCreated)
def claim_apply_created(event: ClaimCreated, meta: EventMeta) -> None:
    """The DRAFT claim with its lines, money kept as strings to the cent in the JSON column."""
    lines = [
        {**line.model_dump(mode="json"), "approved_amount": None, "denial_reason": None}
        for line in event.lines
    ]
    upsert(
        Claim,
        id=event.claim_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            **event.model_dump(exclude={"claim_id", "lines", "diagnoses"}),
            "status": domain.DRAFT,
            "approved_total": None,
            "paid": Decimal("0.00"),
            "lines": lines,
            "diagnoses": [d.model_dump() for d in event.diagnoses],
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(ClaimSubmitted)
def claim_apply_submitted(event: ClaimSubmitted, meta: EventMeta) -> None:
    _claim_touch(meta, event.claim_id, status=domain.SUBMITTED, submitted_at=meta.occurred_at)


@subscribe(ClaimAdjudicated)
def claim_apply_adjudicated(event: ClaimAdjudicated, meta: EventMeta) -> None:
    """Each line gets its approved amount and denial reason; the claim its status and total."""
    claim = Claim.all_tenants.get(tenant_id=meta.tenant_id, id=event.claim_id)
    decided = {line.line: line.model_dump(mode="json") for line in event.lines}
    lines = [{**line, **decided.get(line["line"], {})} for line in claim.lines]
    _claim_touch(
        meta,
        event.claim_id,
        status=event.status,
        approved_total=event.approved_total,
        lines=lines,
        adjudicated_at=meta.occurred_at,
    )


@subscribe(PaymentRecorded)
def payment_apply_recorded(event: PaymentRecorded, meta: EventMeta) -> None:
    """The payment row; a payer's payment also moves its claim to PARTIALLY_PAID or PAID."""
    upsert(
        Payment,
        id=event.payment_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            **event.model_dump(exclude={"payment_id"}),
            "position": meta.position,
            "recorded_at": meta.occurred_at,
        },
    )
    if event.claim_id is not None:
        _claim_paid(meta, event.claim_id)


def _claim_paid(meta: EventMeta, claim_id: uuid.UUID) -> None:
    # Summed from the payment rows (this one included): replaying twice cannot count twice.
    paid = Payment.all_tenants.filter(tenant_id=meta.tenant_id, claim_id=claim_id).aggregate(
        total=Sum("amount")
    )["total"] or Decimal("0.00")
    claim = Claim.all_tenants.filter(tenant_id=meta.tenant_id, id=claim_id)
    approved = claim.values_list("approved_total", flat=True).get() or Decimal("0.00")
    update(
        claim,
        paid=domain.money(paid),
        status=domain.claim_status_when_paid(approved_total=approved, paid=paid),
        updated_at=meta.occurred_at,
    )


def _claim_touch(meta: EventMeta, claim_id: uuid.UUID, **fields: object) -> None:
    update(
        Claim.all_tenants.filter(tenant_id=meta.tenant_id, id=claim_id),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
