"""Billing use-cases: the workflow posts and reverses charges; clerks read invoices.

Posting and reversing are called by `policies.py` in the transaction of the clinical event
that caused them, so a charge exists exactly when its consultation or order does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from hm_core.audit.services import audited_read, audited_read_each
from hm_core.billing import domain
from hm_core.billing.errors import DuplicateClaim, DuplicatePayerCode
from hm_core.billing.events import CoverageAdded, PayerCreated
from hm_core.billing.models import Claim, Coverage, Payer, Payment
from hm_core.billing.selectors import (
    ClaimFilters,
    account_for_invoice,
    charges_of_order_items,
    claim_get,
    claim_list,
    claim_payable,
    coverage_get,
    coverage_list,
    coverage_terms,
    invoice_get,
    payer_code_taken,
    payer_get,
    payer_list,
    payment_list,
    settlement_of,
)
from hm_core.catalog.selectors import service_price
from hm_core.common.db import violates
from hm_core.common.errors import HmError, NotFound, ValidationFailed
from hm_core.common.pagination import paginate
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters.events import Diagnosis
from hm_core.encounters.selectors import encounter_get
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.events.unit_of_work import command_block
from hm_core.iam.selectors import facility_time_zone, tenant_currency
from hm_core.patients.selectors import patient_get

if TYPE_CHECKING:  # the selector's return type; read, never written, here
    from hm_core.encounters.models import Encounter

STREAM = "account"
CLAIM_STREAM = "claim"
logger = logging.getLogger(__name__)


def _publish(*, scope: Scope, encounter_id: uuid.UUID, events: Sequence[DomainEvent]) -> None:
    # No expected version: charges only add to the account, and the tenant's append lock
    # already serialises every append, so there is no lost update to detect.
    stream = StreamRef(STREAM, domain.account_stream_id(encounter_id))
    publish(scope=scope, stream=stream, expected_version=None, events=events)


def charge_post(
    *,
    scope: Scope,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    charges: Sequence[domain.ChargeSpec],
) -> list[uuid.UUID]:
    """Charge services to the encounter's account at the given prices; returns the charge ids.

    Called by policies reacting to the encounter's own events, which carry its patient: no
    read of the encounter (a read in the middle of a command flushes its queued writes)."""
    with scope_active(scope), transaction.atomic():
        charge_ids = [uuid.uuid4() for _ in charges]
        events = domain.post(
            encounter_id=encounter_id,
            patient_id=patient_id,
            charges=charges,
            charge_ids=charge_ids,
        )
        if events:
            _publish(scope=scope, encounter_id=encounter_id, events=events)
        return charge_ids


def consult_charge_post(
    *, scope: Scope, encounter_id: uuid.UUID, patient_id: uuid.UUID
) -> uuid.UUID | None:
    """Charge the OPD consultation at the tenant's catalog price, in the catalog's currency
    (as ordered items are: a price is only meaningful in the currency it was set in).

    A tenant whose catalog lacks CONSULT is not charged (and warned about in the log): a
    billing gap must never stop a clinician from seeing a patient.
    """
    spec = service_price(tenant_id=scope.tenant_id, code=domain.CONSULT_CODE)
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
        code=spec.code, description=spec.name, unit_price=spec.price, currency=spec.currency
    )
    charges = [charge]
    return charge_post(
        scope=scope, encounter_id=encounter_id, patient_id=patient_id, charges=charges
    )[0]


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


# --- Insurance, claims and payments (contract §15) -------------------------------------------


def payer_create(*, scope: Scope, name: str, payer_code: str, kind: str) -> Payer:
    """Register a payer; its code is unique in the tenant (409 `duplicate_payer_code`)."""
    scope.require("payers.create")
    payer_id = uuid.uuid4()
    unique = _unique(DuplicatePayerCode, "billing_payer_code_uniq", ("payer_code",))
    with unique, scope_active(scope), command_block():
        if payer_code_taken(scope=scope, payer_code=payer_code):
            raise DuplicatePayerCode(details={"payer_code": payer_code})
        event = PayerCreated(payer_id=payer_id, name=name, payer_code=payer_code, kind=kind)
        stream = StreamRef("payer", payer_id)
        publish(scope=scope, stream=stream, expected_version=0, events=[event])
        return _payer(scope, payer_id)


def payer_list_view(*, scope: Scope, kind: str | None, limit: int, offset: int) -> dict[str, Any]:
    """A page of the tenant's payers (reference data: no patient is disclosed)."""
    scope.require("billing.view")
    with scope_active(scope):
        return paginate(payer_list(scope=scope, kind=kind), limit=limit, offset=offset)


@dataclass(frozen=True)
class CoverageSpec:
    payer_id: uuid.UUID
    member_id: str
    relationship: str
    valid_from: date
    priority: int
    valid_to: date | None = None
    group_number: str = ""
    plan_name: str = ""


def coverage_add(*, scope: Scope, patient_id: uuid.UUID, spec: CoverageSpec) -> Coverage:
    """Record a patient's coverage by one of the tenant's payers; member id stored sealed."""
    scope.require("coverages.add")
    with scope_active(scope), command_block():
        patient_get(scope=scope, patient_id=patient_id)
        if payer_get(scope=scope, payer_id=spec.payer_id) is None:
            raise ValidationFailed.field("payer", "No such payer in this tenant.")
        if spec.valid_to is not None and spec.valid_to < spec.valid_from:
            raise ValidationFailed.field("valid_to", "valid_to is before valid_from.")
        coverage_id = uuid.uuid4()
        # The event seals `member_id` itself (`member_ids.member_id_store`): never stored clear.
        event = CoverageAdded(coverage_id=coverage_id, patient_id=patient_id, **asdict(spec))
        stream = StreamRef("coverage", coverage_id)
        publish(scope=scope, stream=stream, expected_version=0, events=[event])
        return coverage_get(scope=scope, coverage_id=coverage_id)


def coverage_list_view(
    *, scope: Scope, patient_id: uuid.UUID, limit: int, offset: int
) -> dict[str, Any]:
    """A page of the patient's coverages; it discloses member ids, so it is audited."""
    return audited_read(
        scope=scope,
        permission="coverages.view",
        action="coverage.listed",
        load=lambda: _coverage_page(scope, patient_id, limit=limit, offset=offset),
        patient_of=lambda _: patient_id,
    )


def _coverage_page(
    scope: Scope, patient_id: uuid.UUID, *, limit: int, offset: int
) -> dict[str, Any]:
    patient_get(scope=scope, patient_id=patient_id)
    return paginate(coverage_list(scope=scope, patient_id=patient_id), limit=limit, offset=offset)


def claim_create(*, scope: Scope, encounter_id: uuid.UUID, coverage_id: uuid.UUID | None) -> Claim:
    """A DRAFT claim from the closed encounter's invoice to the chosen coverage (else the
    patient's first valid one by priority), carrying the assessment's diagnoses."""
    scope.require("claims.create")
    claim_id = uuid.uuid4()
    unique = _unique(DuplicateClaim, "billing_claim_live_uniq", ("encounter_id", "coverage_id"))
    with unique, scope_active(scope), command_block():
        encounter = encounter_get(scope=scope, encounter_id=encounter_id)
        event = domain.create_claim(
            claim_id=claim_id,
            invoice=_invoice_of(scope, encounter.id)[1],
            patient_id=encounter.patient_id,
            coverage=_coverage_for(scope, encounter, coverage_id),
            diagnoses=[Diagnosis(**d) for d in encounter.diagnoses],
        )
        stream = StreamRef(CLAIM_STREAM, claim_id)
        publish(scope=scope, stream=stream, expected_version=0, events=[event])
        return claim_get(scope=scope, claim_id=claim_id)


def _coverage_for(
    scope: Scope, encounter: Encounter, coverage_id: uuid.UUID | None
) -> domain.CoverageTerms:
    """The coverage named (404 if not the tenant's), else the patient's, valid on the day the
    patient came: the date of check-in (or of the appointment) in the facility's time zone, the
    day printed on the patient's card and the payer's eligibility check, not the UTC date."""
    chosen = coverage_get(scope=scope, coverage_id=coverage_id) if coverage_id else None
    candidates = [] if chosen else coverage_list(scope=scope, patient_id=encounter.patient_id)
    came = encounter.checked_in_at or encounter.scheduled_at
    zone = facility_time_zone(tenant_id=encounter.tenant_id, facility_id=encounter.facility_id)
    return domain.coverage_for_claim(
        patient_id=encounter.patient_id,
        day=came.astimezone(ZoneInfo(zone)).date(),
        chosen=coverage_terms(chosen) if chosen else None,
        candidates=[coverage_terms(c) for c in candidates],
    )


def claim_submit(
    *, scope: Scope, claim_id: uuid.UUID, expected_version: int | None = None
) -> Claim:
    """DRAFT → SUBMITTED."""
    return run_command(
        scope=scope,
        permission="claims.submit",
        stream_type=CLAIM_STREAM,
        load=lambda: claim_get(scope=scope, claim_id=claim_id),
        decide=lambda claim: domain.submit(_claim_state(claim)),
        expected_version=expected_version,
    )


def claim_adjudicate(
    *,
    scope: Scope,
    claim_id: uuid.UUID,
    decisions: Sequence[domain.LineDecision],
    expected_version: int | None = None,
) -> Claim:
    """SUBMITTED → ADJUDICATED (or DENIED when nothing is approved), line by line."""
    return run_command(
        scope=scope,
        permission="claims.adjudicate",
        stream_type=CLAIM_STREAM,
        load=lambda: claim_get(scope=scope, claim_id=claim_id),
        decide=lambda claim: domain.adjudicate(_claim_state(claim), decisions=decisions),
        expected_version=expected_version,
    )


def _claim_state(claim: Claim) -> domain.ClaimState:
    amounts = {line["line"]: Decimal(line["amount"]) for line in claim.lines}
    return domain.ClaimState(claim_id=claim.id, status=claim.status, line_amounts=amounts)


def claim_view(*, scope: Scope, claim_id: uuid.UUID) -> Claim:
    """The claim, with its diagnoses: an audited read of the patient's care."""
    return audited_read(
        scope=scope,
        permission="claims.view",
        action="claim.viewed",
        load=lambda: claim_get(scope=scope, claim_id=claim_id),
        patient_of=lambda claim: claim.patient_id,
        detail=lambda claim: {"claim_id": str(claim.id)},
    )


def claim_list_view(
    *, scope: Scope, filters: ClaimFilters, limit: int, offset: int
) -> dict[str, Any]:
    """A page of claims: one audit record per patient on the page."""
    return audited_read_each(
        scope=scope,
        permission="claims.view",
        action="claim.listed",
        load=lambda: paginate(claim_list(scope=scope, filters=filters), limit=limit, offset=offset),
        reads=lambda page: _reads_by_patient(page, key="claim_ids"),
    )


def payment_record(*, scope: Scope, invoice_id: uuid.UUID, spec: domain.PaymentSpec) -> Payment:
    """Record money received on a final invoice from the patient or a payer (for its
    adjudicated claim); 422 `overpayment` beyond what that payer owes."""
    scope.require("payments.record")
    with scope_active(scope), command_block():
        account = account_for_invoice(scope=scope, invoice_id=invoice_id, lock=True)
        invoice = _invoice_of(scope, account.encounter_id)[1]
        event = domain.record_payment(
            invoice=invoice,
            settlement=settlement_of(scope=scope, invoice_id=invoice_id),
            patient_id=account.patient_id,
            spec=spec,
            claim=_payable_claim(scope, invoice_id=invoice_id, payer=spec.payer),
        )
        _publish(scope=scope, encounter_id=account.encounter_id, events=[event])
        return Payment.objects.for_scope(scope).get(id=spec.payment_id)


def _payable_claim(
    scope: Scope, *, invoice_id: uuid.UUID, payer: str
) -> domain.PayableClaim | None:
    if payer == domain.PATIENT:
        return None
    payer_id = uuid.UUID(payer)
    if payer_get(scope=scope, payer_id=payer_id) is None:
        raise ValidationFailed.field("payer", "No such payer in this tenant.")
    claim = claim_payable(scope=scope, invoice_id=invoice_id, payer_id=payer_id)
    if claim is None or claim.approved_total is None:
        return None
    return domain.PayableClaim(claim.id, claim.approved_total, claim.paid)


def payment_list_view(
    *, scope: Scope, invoice_id: uuid.UUID | None, limit: int, offset: int
) -> dict[str, Any]:
    """A page of payments, in the order recorded: one audit record per patient on the page."""
    return audited_read_each(
        scope=scope,
        permission="billing.view",
        action="payment.listed",
        load=lambda: paginate(
            payment_list(scope=scope, invoice_id=invoice_id), limit=limit, offset=offset
        ),
        reads=lambda page: _reads_by_patient(page, key="payment_ids"),
    )


def _reads_by_patient(
    page: dict[str, Any], *, key: str
) -> list[tuple[uuid.UUID | None, dict[str, Any]]]:
    by_patient: dict[uuid.UUID, list[str]] = {}
    for row in page["items"]:
        by_patient.setdefault(row.patient_id, []).append(str(row.id))
    return [(patient, {key: ids}) for patient, ids in by_patient.items()]


def _payer(scope: Scope, payer_id: uuid.UUID) -> Payer:
    payer = payer_get(scope=scope, payer_id=payer_id)
    if payer is None:  # pragma: no cover - just written in this transaction
        raise NotFound(details={"resource": "payer"})
    return payer


@contextmanager
def _unique(error: type[HmError], constraint: str, columns: tuple[str, ...]) -> Iterator[None]:
    """Turn a lost race on a unique read-model row into the same 409 as the check before it."""
    try:
        yield
    except IntegrityError as exc:
        if violates(exc, constraint=constraint, columns=columns):
            raise error() from exc
        raise
