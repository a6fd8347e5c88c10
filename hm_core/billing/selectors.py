"""Billing read use-cases over the charge lines and accounts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, DecimalField, Q, QuerySet, Sum, Value, When

from hm_core.billing import domain
from hm_core.billing.models import Account, ChargeLine, Claim, Coverage, Payer, Payment
from hm_core.common.errors import NotFound
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
    """The encounter's invoice: active lines, their total to the cent, the account's status,
    what payers approved and what was paid."""
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
        settlement=settlement_of(scope=scope, invoice_id=domain.account_stream_id(encounter_id)),
    )


def settlement_of(*, scope: Scope, invoice_id: uuid.UUID) -> domain.Settlement:
    """Approved totals of the invoice's adjudicated claims, and payments by patient and payers
    (two aggregate queries)."""
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=12, decimal_places=2))
    approved = (
        Claim.objects.for_scope(scope)
        .filter(invoice_id=invoice_id, status__in=(*domain.PAYABLE, domain.PAID))
        .aggregate(total=Sum("approved_total"))["total"]
    )
    paid = (
        Payment.objects.for_scope(scope)
        .filter(invoice_id=invoice_id)
        .aggregate(
            patient=Sum(Case(When(payer=domain.PATIENT, then="amount"), default=zero)),
            payers=Sum(Case(When(~Q(payer=domain.PATIENT), then="amount"), default=zero)),
        )
    )
    return domain.Settlement(
        approved=approved or Decimal("0"),
        paid_by_patient=paid["patient"] or Decimal("0"),
        paid_by_payers=paid["payers"] or Decimal("0"),
    )


def account_for_invoice(*, scope: Scope, invoice_id: uuid.UUID, lock: bool = False) -> Account:
    """The account an invoice id names, in the facility (404 otherwise); `lock` holds its row
    until commit, so two payments on one invoice are checked one after the other."""
    qs = Account.objects.for_scope(scope).filter(invoice_id=invoice_id)
    account = (qs.select_for_update() if lock else qs).first()
    if account is None:
        raise NotFound(details={"resource": "invoice"})
    return account


def payer_get(*, scope: Scope, payer_id: uuid.UUID) -> Payer | None:
    return Payer.objects.for_scope(scope).filter(id=payer_id).first()


def payer_code_taken(*, scope: Scope, payer_code: str) -> bool:
    return Payer.objects.for_scope(scope).filter(payer_code=payer_code).exists()


def payer_list(*, scope: Scope, kind: str | None) -> QuerySet[Payer]:
    """The tenant's payers by name."""
    qs = Payer.objects.for_scope(scope)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("name", "id")


def coverage_list(*, scope: Scope, patient_id: uuid.UUID) -> QuerySet[Coverage]:
    """The patient's coverages, primary first, then by start of validity."""
    return (
        Coverage.objects.for_scope(scope)
        .filter(patient_id=patient_id)
        .order_by("priority", "valid_from", "id")
    )


def coverage_all(*, scope: Scope) -> QuerySet[Coverage]:
    """Every coverage of the tenant (FHIR `Coverage` search pages them by id)."""
    return Coverage.objects.for_scope(scope)


def coverage_terms(coverage: Coverage) -> domain.CoverageTerms:
    return domain.CoverageTerms(
        coverage_id=coverage.id,
        patient_id=coverage.patient_id,
        payer_id=coverage.payer_id,
        valid_from=coverage.valid_from,
        valid_to=coverage.valid_to,
    )


def coverage_get(*, scope: Scope, coverage_id: uuid.UUID) -> Coverage:
    coverage = Coverage.objects.for_scope(scope).filter(id=coverage_id).first()
    if coverage is None:
        raise NotFound(details={"resource": "coverage"})
    return coverage


def claim_get(*, scope: Scope, claim_id: uuid.UUID) -> Claim:
    """The facility's claim, or 404 — also when another facility or tenant has it."""
    claim = Claim.objects.for_scope(scope).filter(id=claim_id).first()
    if claim is None:
        raise NotFound(details={"resource": "claim"})
    return claim


@dataclass(frozen=True)
class ClaimFilters:
    status: str | None = None
    payer: uuid.UUID | None = None
    patient: uuid.UUID | None = None
    encounter: uuid.UUID | None = None


def claim_list(*, scope: Scope, filters: ClaimFilters) -> QuerySet[Claim]:
    """The facility's claims, newest first."""
    qs = Claim.objects.for_scope(scope)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.payer:
        qs = qs.filter(payer_id=filters.payer)
    if filters.patient:
        qs = qs.filter(patient_id=filters.patient)
    if filters.encounter:
        qs = qs.filter(encounter_id=filters.encounter)
    return qs.order_by("-created_at", "-id")


def claim_payable(*, scope: Scope, invoice_id: uuid.UUID, payer_id: uuid.UUID) -> Claim | None:
    """The payer's adjudicated, not fully paid claim on the invoice, if any (oldest first)."""
    return (
        Claim.objects.for_scope(scope)
        .filter(invoice_id=invoice_id, payer_id=payer_id, status__in=domain.PAYABLE)
        .order_by("created_at", "id")
        .first()
    )


def payment_list(*, scope: Scope, invoice_id: uuid.UUID | None) -> QuerySet[Payment]:
    """The facility's payments in the order they were recorded."""
    qs = Payment.objects.for_scope(scope)
    if invoice_id:
        qs = qs.filter(invoice_id=invoice_id)
    return qs.order_by("position")
