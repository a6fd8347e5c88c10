"""Contract §7: billing — the invoice of an encounter, derived from its charge events."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router

from hm_core.billing import services
from hm_core.billing.domain import Invoice
from hm_core.billing.schemas import InvoiceOut
from hm_core.common.api import ERRORS, scope_of

router = Router(tags=["billing"])


@router.get("/encounters/{encounter_id}/invoice/", response={200: InvoiceOut, **ERRORS})
def invoice_view(request: HttpRequest, encounter_id: uuid.UUID) -> Invoice:
    """Active charges in posting order and their total; 409 `mixed_currency` if no total exists."""
    return services.invoice_view(scope=scope_of(request), encounter_id=encounter_id)
