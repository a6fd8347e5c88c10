"""Billing error codes."""

from __future__ import annotations

from hm_core.common.errors import Conflict, HmError


class MixedCurrency(Conflict):
    """The encounter's active charges are in more than one currency: no single total exists."""

    default_code = "mixed_currency"
    default_message = (
        "The charges of this encounter are in more than one currency; they cannot be totalled."
    )


class InvoiceNotFinal(Conflict):
    """Claims and payments need the invoice final: the encounter closed."""

    default_code = "invoice_not_final"
    default_message = "The invoice is not final: the encounter is not closed."


class InvoiceEmpty(Conflict):
    default_code = "invoice_empty"
    default_message = "The invoice has no lines to claim."


class DuplicateClaim(Conflict):
    default_code = "duplicate_claim"
    default_message = "This invoice already has a claim on this coverage that was not denied."


class DuplicatePayerCode(Conflict):
    default_code = "duplicate_payer_code"
    default_message = "A payer with this payer code exists."


class ClaimNotAdjudicated(Conflict):
    """A payer pays what it approved: it needs an adjudicated, not fully paid claim."""

    default_code = "claim_not_adjudicated"
    default_message = "This payer has no adjudicated claim on this invoice that is still unpaid."


class CoverageRequired(HmError):
    status = 422
    default_code = "coverage_required"
    default_message = "The patient has no coverage valid on the encounter's date."


class CoverageInactive(HmError):
    status = 422
    default_code = "coverage_inactive"
    default_message = "The coverage is not valid on the encounter's date."


class Overpayment(HmError):
    """The amount is more than this payer still owes on the invoice."""

    status = 422
    default_code = "overpayment"
    default_message = "The amount is more than this payer still owes on the invoice."
