"""Billing decisions and money arithmetic — pure Python, Decimal only (never float).

An account belongs to one encounter: OPEN while the visit runs, FINAL once it is closed, VOID
when it is cancelled. Charges are posted (consultation, ordered items) and reversed (cancelled
items); the invoice lists the active charges in posting order and totals them to the cent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hm_core.billing.errors import (
    ClaimNotAdjudicated,
    CoverageInactive,
    CoverageRequired,
    InvoiceEmpty,
    InvoiceNotFinal,
    MixedCurrency,
    Overpayment,
)
from hm_core.billing.events import (
    AdjudicatedLine,
    ChargePosted,
    ChargeReversed,
    ClaimAdjudicated,
    ClaimCreated,
    ClaimLine,
    ClaimSubmitted,
    PaymentRecorded,
)
from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.encounters.events import Diagnosis

OPEN, FINAL, VOID = "OPEN", "FINAL", "VOID"
ACTIVE, REVERSED = "ACTIVE", "REVERSED"
CONSULT_CODE = "CONSULT"
# Every currency hm_core bills in has a minor unit of 1/100 (USD, EUR, INR, KES, ...).
MINOR_UNIT = Decimal("0.01")
# Namespace of account stream ids: uuid5(namespace, encounter id) is stable, so replays agree.
ACCOUNT_NAMESPACE = uuid.UUID("6f1c3b1e-5d7a-4c51-9b0e-2a8f4d6c9e11")


def account_stream_id(encounter_id: uuid.UUID) -> uuid.UUID:
    """The id of the encounter's account stream: distinct from the encounter's own stream."""
    return uuid.uuid5(ACCOUNT_NAMESPACE, str(encounter_id))


def money(value: Decimal) -> Decimal:
    """`value` rounded to the currency's minor unit (half up, as tills and ledgers do)."""
    return value.quantize(MINOR_UNIT, rounding=ROUND_HALF_UP)


def line_amount(*, quantity: int, unit_price: Decimal) -> Decimal:
    """Quantity times unit price, to the cent."""
    return money(unit_price * quantity)


@dataclass(frozen=True)
class ChargeSpec:
    """What to charge: a service code with its description, quantity and price as of now."""

    code: str
    description: str
    unit_price: Decimal
    currency: str
    quantity: int = 1
    order_item_id: uuid.UUID | None = None


def post(
    *,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    charges: Sequence[ChargeSpec],
    charge_ids: Sequence[uuid.UUID],
) -> list[ChargePosted]:
    """One ChargePosted per spec; a quantity below 1 or a negative price is a programming error."""
    for spec in charges:
        if spec.quantity < 1 or spec.unit_price < 0:
            raise ValueError(f"invalid charge {spec}")
    return [
        ChargePosted(
            charge_id=charge_id,
            encounter_id=encounter_id,
            patient_id=patient_id,
            code=spec.code,
            description=spec.description,
            quantity=spec.quantity,
            unit_price=money(spec.unit_price),
            currency=spec.currency,
            order_item_id=spec.order_item_id,
        )
        for spec, charge_id in zip(charges, charge_ids, strict=True)
    ]


@dataclass(frozen=True)
class PostedCharge:
    """A charge as the account holds it."""

    charge_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    code: str
    status: str


def reverse(charges: Iterable[PostedCharge], *, reason: str) -> list[ChargeReversed]:
    """Reverse the active charges among `charges`; reversing twice changes nothing."""
    return [
        ChargeReversed(
            charge_id=c.charge_id,
            encounter_id=c.encounter_id,
            patient_id=c.patient_id,
            reason=f"{c.code} {reason}",
        )
        for c in charges
        if c.status == ACTIVE
    ]


@dataclass(frozen=True)
class InvoiceLine:
    code: str
    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Invoice:
    id: uuid.UUID
    encounter: uuid.UUID
    lines: list[InvoiceLine]
    total: Decimal
    currency: str
    status: str
    paid: Decimal
    patient_responsibility: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Settlement:
    """What has been approved by payers and paid, against an invoice."""

    approved: Decimal = Decimal("0")  # approved totals of adjudicated claims
    paid_by_patient: Decimal = Decimal("0")
    paid_by_payers: Decimal = Decimal("0")


def invoice(
    *,
    encounter_id: uuid.UUID,
    lines: list[InvoiceLine],
    status: str,
    default_currency: str,
    settlement: Settlement | None = None,
) -> Invoice:
    """Total the active lines; lines in two currencies have no total (409 `mixed_currency`).

    The currency is the one the lines were charged in (a later change of the tenant's currency
    does not relabel a past visit); an invoice without lines is in the tenant's currency.
    The patient is responsible for what no payer approved; the balance is what nobody paid yet.
    """
    currencies = sorted({line.currency for line in lines})
    if len(currencies) > 1:
        raise MixedCurrency(details={"currencies": currencies})
    total = money(sum((line.amount for line in lines), Decimal("0")))
    currency = currencies[0] if currencies else default_currency
    settled = settlement or Settlement()
    paid = money(settled.paid_by_patient + settled.paid_by_payers)
    return Invoice(
        id=account_stream_id(encounter_id),
        encounter=encounter_id,
        lines=lines,
        total=total,
        currency=currency,
        status=status,
        paid=paid,
        patient_responsibility=max(money(total - settled.approved), Decimal("0.00")),
        balance=money(total - paid),
    )


# --- Insurance, claims and payments (contract §15) -------------------------------------------

DRAFT, SUBMITTED, ADJUDICATED, DENIED = "DRAFT", "SUBMITTED", "ADJUDICATED", "DENIED"
PARTIALLY_PAID, PAID = "PARTIALLY_PAID", "PAID"
CLAIM_STATUSES = (DRAFT, SUBMITTED, ADJUDICATED, DENIED, PARTIALLY_PAID, PAID)
# Claims a payer still owes on: adjudicated with something approved, not yet paid in full.
PAYABLE = (ADJUDICATED, PARTIALLY_PAID)
PATIENT = "patient"


def member_id_store(member_id: str) -> str:
    """The coverage's member id as it is kept in events and rows.

    The one place the member id is written: at-rest encryption (`hm_core.common.crypto`,
    contract §18) wraps this value here, and `member_id_read` unwraps it.
    """
    return member_id


def member_id_read(stored: str) -> str:
    """The member id as the client sent it, from its stored form (see `member_id_store`)."""
    return stored


@dataclass(frozen=True)
class CoverageTerms:
    """What a claim needs to know of a coverage."""

    coverage_id: uuid.UUID
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    valid_from: date
    valid_to: date | None

    def applies_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def coverage_for_claim(
    *,
    patient_id: uuid.UUID,
    day: date,
    chosen: CoverageTerms | None,
    candidates: Sequence[CoverageTerms],
) -> CoverageTerms:
    """The coverage a claim goes to: the one chosen (it must be the patient's and valid on the
    day of the visit), else the patient's first valid one by priority (`candidates` ordered)."""
    if chosen is not None:
        if chosen.patient_id != patient_id:
            raise ValidationFailed.field("coverage", "This coverage is not the patient's.")
        if not chosen.applies_on(day):
            raise CoverageInactive(details={"valid_from": str(chosen.valid_from), "day": str(day)})
        return chosen
    for candidate in candidates:
        if candidate.applies_on(day):
            return candidate
    raise CoverageRequired()


def create_claim(
    *,
    claim_id: uuid.UUID,
    invoice: Invoice,
    patient_id: uuid.UUID,
    coverage: CoverageTerms,
    diagnoses: Sequence[Diagnosis],
) -> ClaimCreated:
    """A DRAFT claim with the final invoice's lines numbered 1, 2, ... (409 unless final)."""
    if invoice.status != FINAL:
        raise InvoiceNotFinal(details={"status": invoice.status})
    if not invoice.lines:
        raise InvoiceEmpty()
    return ClaimCreated(
        claim_id=claim_id,
        encounter_id=invoice.encounter,
        patient_id=patient_id,
        invoice_id=invoice.id,
        payer_id=coverage.payer_id,
        coverage_id=coverage.coverage_id,
        currency=invoice.currency,
        lines=tuple(
            ClaimLine(line=n, service_code=x.code, description=x.description, amount=x.amount)
            for n, x in enumerate(invoice.lines, start=1)
        ),
        total=invoice.total,
        diagnoses=tuple(diagnoses),
    )


@dataclass(frozen=True)
class ClaimState:
    claim_id: uuid.UUID
    status: str
    line_amounts: dict[int, Decimal]  # line number → amount claimed


def submit(state: ClaimState) -> list[ClaimSubmitted]:
    _require_claim(state, DRAFT, action="submit")
    return [ClaimSubmitted(claim_id=state.claim_id)]


@dataclass(frozen=True)
class LineDecision:
    line: int
    approved_amount: Decimal
    denial_reason: str | None = None


def adjudicate(state: ClaimState, *, decisions: Sequence[LineDecision]) -> list[ClaimAdjudicated]:
    """The payer's decision on every line, each once, 0 to the amount claimed (to the cent);
    DENIED when nothing at all is approved."""
    _require_claim(state, SUBMITTED, action="adjudicate")
    problems = _decision_problems(state, decisions)
    if problems:
        raise ValidationFailed("The adjudication does not match the claim.", details=problems)
    lines = tuple(
        AdjudicatedLine(
            line=d.line, approved_amount=money(d.approved_amount), denial_reason=d.denial_reason
        )
        for d in sorted(decisions, key=lambda d: d.line)
    )
    approved = money(sum((line.approved_amount for line in lines), Decimal("0")))
    status = ADJUDICATED if approved > 0 else DENIED
    return [
        ClaimAdjudicated(
            claim_id=state.claim_id, status=status, lines=lines, approved_total=approved
        )
    ]


def _decision_problems(
    state: ClaimState, decisions: Sequence[LineDecision]
) -> list[dict[str, str]]:
    problems = []
    seen: set[int] = set()
    for i, d in enumerate(decisions):
        field = f"lines[{i}]"
        if d.line not in state.line_amounts:
            problems.append(
                {"field": f"{field}.line", "message": f"The claim has no line {d.line}."}
            )
        elif d.line in seen:
            problems.append({"field": f"{field}.line", "message": f"Line {d.line} is repeated."})
        elif not Decimal("0") <= money(d.approved_amount) <= state.line_amounts[d.line]:
            limit = state.line_amounts[d.line]
            message = f"The approved amount must be between 0.00 and {limit}."
            problems.append({"field": f"{field}.approved_amount", "message": message})
        seen.add(d.line)
    missing = sorted(set(state.line_amounts) - seen)
    if missing:
        problems.append({"field": "lines", "message": f"Lines {missing} have no decision."})
    return problems


def claim_status_when_paid(*, approved_total: Decimal, paid: Decimal) -> str:
    """PAID once the payer has paid all it approved, PARTIALLY_PAID before."""
    return PAID if paid >= approved_total else PARTIALLY_PAID


@dataclass(frozen=True)
class PayableClaim:
    """A payer's adjudicated claim on the invoice, and what it has paid of it so far."""

    claim_id: uuid.UUID
    approved_total: Decimal
    paid: Decimal


@dataclass(frozen=True)
class PaymentSpec:
    payment_id: uuid.UUID
    payer: str  # PATIENT or the payer's uuid as text
    amount: Decimal
    method: str
    reference: str


def record_payment(
    *,
    invoice: Invoice,
    settlement: Settlement,
    patient_id: uuid.UUID,
    spec: PaymentSpec,
    claim: PayableClaim | None,
) -> PaymentRecorded:
    """A payment on a final invoice, rounded to the cent; 422 `overpayment` beyond what this
    payer owes: a payer owes what it approved and has not paid, the patient what no payer
    approved and the patient has not paid — neither more than the balance."""
    if invoice.status != FINAL:
        raise InvoiceNotFinal(details={"status": invoice.status})
    amount = money(spec.amount)
    if amount <= 0:
        raise ValidationFailed.field("amount", "The amount must be at least 0.01.")
    if spec.payer == PATIENT:
        owed = invoice.patient_responsibility - settlement.paid_by_patient
    elif claim is None:
        raise ClaimNotAdjudicated()
    else:
        owed = claim.approved_total - claim.paid
    owed = max(min(owed, invoice.balance), Decimal("0.00"))
    if amount > owed:
        raise Overpayment(details={"owed": str(money(owed)), "currency": invoice.currency})
    return PaymentRecorded(
        payment_id=spec.payment_id,
        invoice_id=invoice.id,
        encounter_id=invoice.encounter,
        patient_id=patient_id,
        claim_id=claim.claim_id if claim else None,
        payer=spec.payer,
        amount=amount,
        currency=invoice.currency,
        method=spec.method,
        reference=spec.reference,
    )


def _require_claim(state: ClaimState, *allowed: str, action: str) -> None:
    if state.status not in allowed:
        raise InvalidTransition(
            f"Cannot {action} a claim that is {state.status}.",
            details={"from": state.status, "allowed_from": list(allowed)},
        )
