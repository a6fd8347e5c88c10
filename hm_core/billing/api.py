"""Billing over HTTP: the invoice (contract §7); payers, coverages, claims and payments (§15).

`router` is mounted at `/api/billing/`; `coverages_router` at `/api/patients/` beside the
patients router, since a coverage is addressed through its patient. Its code stays here.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from hm_core.billing import domain, services
from hm_core.billing.domain import Invoice
from hm_core.billing.models import Claim, Coverage, Payer, Payment
from hm_core.billing.schemas import (
    ClaimAdjudicateIn,
    ClaimCreateIn,
    ClaimListFilters,
    ClaimOut,
    ClaimPageOut,
    CoverageAddIn,
    CoverageOut,
    CoveragePageOut,
    InvoiceOut,
    PayerCreateIn,
    PayerListFilters,
    PayerOut,
    PayerPageOut,
    PaymentListFilters,
    PaymentOut,
    PaymentPageOut,
    PaymentRecordIn,
)
from hm_core.billing.selectors import ClaimFilters
from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, with_etag
from hm_core.common.schemas import PageParams

router = Router(tags=["billing"])
coverages_router = Router(tags=["billing"])


@router.get("/encounters/{encounter_id}/invoice/", response={200: InvoiceOut, **ERRORS})
def invoice_view(request: HttpRequest, encounter_id: uuid.UUID) -> Invoice:
    """Active charges in posting order, their total, what was paid, what the patient owes and
    the balance; 409 `mixed_currency` if no total exists."""
    return services.invoice_view(scope=scope_of(request), encounter_id=encounter_id)


@router.post("/payers/", response={201: PayerOut, **ERRORS})
def payer_create(request: HttpRequest, payload: PayerCreateIn) -> Status[Payer]:
    """Register a payer (admin); 409 `duplicate_payer_code`."""
    scope = scope_of(request)
    return Status(201, services.payer_create(scope=scope, **payload.model_dump()))


@router.get("/payers/", response={200: PayerPageOut, **ERRORS})
def payer_list(request: HttpRequest, filters: Query[PayerListFilters]) -> dict[str, Any]:
    """The tenant's payers by name, `?kind=`."""
    return services.payer_list_view(
        scope=scope_of(request), kind=filters.kind, limit=filters.limit, offset=filters.offset
    )


@coverages_router.post("/{patient_id}/coverages/", response={201: CoverageOut, **ERRORS})
def coverage_add(
    request: HttpRequest, patient_id: uuid.UUID, payload: CoverageAddIn
) -> Status[Coverage]:
    """Add a coverage to the patient; 422 for a payer the tenant does not have."""
    fields = payload.model_dump()
    spec = services.CoverageSpec(payer_id=fields.pop("payer"), **fields)
    return Status(
        201, services.coverage_add(scope=scope_of(request), patient_id=patient_id, spec=spec)
    )


@coverages_router.get("/{patient_id}/coverages/", response={200: CoveragePageOut, **ERRORS})
def coverage_list(
    request: HttpRequest, patient_id: uuid.UUID, page: Query[PageParams]
) -> dict[str, Any]:
    """The patient's coverages, primary first; the read is audited."""
    return services.coverage_list_view(
        scope=scope_of(request), patient_id=patient_id, limit=page.limit, offset=page.offset
    )


@router.post("/claims/", response={201: ClaimOut, **ERRORS})
def claim_create(
    request: HttpRequest, payload: ClaimCreateIn, response: HttpResponse
) -> Status[Claim]:
    """A DRAFT claim from the closed encounter's invoice; 409 `invoice_not_final`."""
    claim = services.claim_create(
        scope=scope_of(request), encounter_id=payload.encounter, coverage_id=payload.coverage
    )
    return Status(201, with_etag(response, claim))


@router.get("/claims/", response={200: ClaimPageOut, **ERRORS})
def claim_list(request: HttpRequest, filters: Query[ClaimListFilters]) -> dict[str, Any]:
    """The facility's claims, newest first, `?status=&payer=&patient=&encounter=`; audited."""
    return services.claim_list_view(
        scope=scope_of(request),
        filters=ClaimFilters(filters.status, filters.payer, filters.patient, filters.encounter),
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/claims/{claim_id}/", response={200: ClaimOut, **ERRORS})
def claim_view(request: HttpRequest, claim_id: uuid.UUID, response: HttpResponse) -> Claim:
    """The claim with its lines and diagnoses; the read is audited."""
    return with_etag(response, services.claim_view(scope=scope_of(request), claim_id=claim_id))


@router.post("/claims/{claim_id}/submit/", response={200: ClaimOut, **ERRORS})
def claim_submit(request: HttpRequest, claim_id: uuid.UUID, response: HttpResponse) -> Claim:
    """DRAFT → SUBMITTED."""
    claim = services.claim_submit(
        scope=scope_of(request), claim_id=claim_id, expected_version=if_match(request)
    )
    return with_etag(response, claim)


@router.post("/claims/{claim_id}/adjudicate/", response={200: ClaimOut, **ERRORS})
def claim_adjudicate(
    request: HttpRequest, claim_id: uuid.UUID, payload: ClaimAdjudicateIn, response: HttpResponse
) -> Claim:
    """The payer's decision per line: ADJUDICATED, or DENIED when nothing is approved."""
    decisions = [domain.LineDecision(**line.model_dump()) for line in payload.lines]
    claim = services.claim_adjudicate(
        scope=scope_of(request),
        claim_id=claim_id,
        decisions=decisions,
        expected_version=if_match(request),
    )
    return with_etag(response, claim)


@router.post("/payments/", response={201: PaymentOut, **ERRORS})
def payment_record(request: HttpRequest, payload: PaymentRecordIn) -> Status[Payment]:
    """Money received on a final invoice; 422 `overpayment` beyond what the payer owes."""
    spec = domain.PaymentSpec(
        payment_id=uuid.uuid4(),
        payer=payload.payer,
        amount=payload.amount,
        method=payload.method,
        reference=payload.reference,
    )
    payment = services.payment_record(
        scope=scope_of(request), invoice_id=payload.invoice, spec=spec
    )
    return Status(201, payment)


@router.get("/payments/", response={200: PaymentPageOut, **ERRORS})
def payment_list(request: HttpRequest, filters: Query[PaymentListFilters]) -> dict[str, Any]:
    """The facility's payments in the order recorded, `?invoice=`; audited."""
    return services.payment_list_view(
        scope=scope_of(request),
        invoice_id=filters.invoice,
        limit=filters.limit,
        offset=filters.offset,
    )
