"""Billing events. Stream: ("account", account_id), facility-scoped, one account per encounter.

The account stream id is derived from the encounter id (`domain.account_stream_id`), never the
encounter id itself: the store numbers versions per stream id, so sharing the encounter's id
would make every charge bump the encounter's version and fail the clinician's next command.
Each charge carries its price and currency as posted, so an invoice never depends on today's
catalog, and its id, so replaying the stream rebuilds the same lines.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from hm_core.billing import member_ids
from hm_core.encounters.events import Diagnosis
from hm_core.events.base import DomainEvent, Upcaster


class ChargePosted(DomainEvent):
    """A billable service was charged to the encounter's account at the price of that moment."""

    event_type: ClassVar[str] = "billing.charge_posted"
    charge_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    code: str
    description: str
    quantity: int
    unit_price: Decimal
    currency: str
    order_item_id: uuid.UUID | None = None

    def summary(self) -> str:
        count = f"{self.quantity} x " if self.quantity != 1 else ""
        amount = (self.unit_price * self.quantity).quantize(Decimal("0.01"))
        return f"Charge posted: {count}{self.code} {self.description} {amount} {self.currency}"


class ChargeReversed(DomainEvent):
    """A posted charge no longer applies (its order item was cancelled): it leaves the invoice."""

    event_type: ClassVar[str] = "billing.charge_reversed"
    charge_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    reason: str

    def summary(self) -> str:
        return f"Charge reversed: {self.reason}"


# --- Insurance, claims and payments (contract §15) -------------------------------------------
# Streams: ("payer", payer_id) and ("coverage", coverage_id) are tenant-wide reference data
# (published from the facility the clerk works at); ("claim", claim_id) is facility-scoped;
# payments append to the encounter's account stream, so the overpayment check and the payment
# are serialised by that stream's version. Money in payloads is a Decimal rendered as a string
# to the cent ("12.50"), in the invoice's currency.


class PayerCreated(DomainEvent):
    """An insurer, government scheme or corporate payer was registered in the tenant."""

    event_type: ClassVar[str] = "billing.payer_created"
    payer_id: uuid.UUID
    name: str
    payer_code: str
    kind: str  # insurer | government | corporate

    def summary(self) -> str:
        return f"Payer created: {self.payer_code} {self.name} ({self.kind})"


def _sealed_member_id_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: the member id encrypted (contract §18). Stored version-1 payloads stay
    plaintext (the hash chain covers them as they are); loading them yields the sealed form."""
    return {**payload, "member_id": member_ids.member_id_store(payload["member_id"])}


class CoverageAdded(DomainEvent):
    """A patient's coverage by a payer was recorded.

    v2: `member_id` is a Fernet token (`billing.member_ids.member_id_store`); built from
    plaintext, the event seals it itself, so no plaintext member id is ever stored.
    """

    event_type: ClassVar[str] = "billing.coverage_added"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _sealed_member_id_v1}
    coverage_id: uuid.UUID
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    member_id: str
    group_number: str = ""
    plan_name: str = ""
    relationship: str  # self | spouse | child | other
    valid_from: date
    valid_to: date | None = None
    priority: int  # 1 primary, 2 secondary

    @field_validator("member_id", mode="before")
    @classmethod
    def _seal_member_id(cls, value: Any) -> str:
        return member_ids.member_id_store(str(value))

    @classmethod
    def revealed(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "member_id": member_ids.member_id_read(payload["member_id"])}

    def summary(self) -> str:
        return f"Coverage added (priority {self.priority}) from {self.valid_from.isoformat()}"


class ClaimLine(BaseModel):
    """One claim line, copied from an invoice line; `line` numbers them 1, 2, ..."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    service_code: str
    description: str
    amount: Decimal


class ClaimCreated(DomainEvent):
    """A DRAFT claim was built from the encounter's final invoice, with its diagnoses."""

    event_type: ClassVar[str] = "billing.claim_created"
    claim_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    invoice_id: uuid.UUID
    payer_id: uuid.UUID | None
    coverage_id: uuid.UUID | None
    currency: str
    lines: tuple[ClaimLine, ...]
    total: Decimal
    diagnoses: tuple[Diagnosis, ...] = ()

    def summary(self) -> str:
        return f"Claim created: {len(self.lines)} line(s), {self.total} {self.currency}"


class ClaimSubmitted(DomainEvent):
    """The claim was submitted to its payer."""

    event_type: ClassVar[str] = "billing.claim_submitted"
    claim_id: uuid.UUID

    def summary(self) -> str:
        return "Claim submitted"


class AdjudicatedLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    approved_amount: Decimal
    denial_reason: str | None = None


class ClaimAdjudicated(DomainEvent):
    """The payer decided each line: ADJUDICATED, or DENIED when nothing was approved."""

    event_type: ClassVar[str] = "billing.claim_adjudicated"
    claim_id: uuid.UUID
    status: str  # ADJUDICATED | DENIED
    lines: tuple[AdjudicatedLine, ...]
    approved_total: Decimal

    def summary(self) -> str:
        return f"Claim {self.status.lower()}: {self.approved_total} approved"


class PaymentRecorded(DomainEvent):
    """Money was received against an invoice, from the patient or from a payer for a claim."""

    event_type: ClassVar[str] = "billing.payment_recorded"
    payment_id: uuid.UUID
    invoice_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    claim_id: uuid.UUID | None
    payer: str  # "patient" or the payer's uuid
    amount: Decimal
    currency: str
    method: str  # cash | card | transfer | insurance | other
    reference: str

    def summary(self) -> str:
        who = "patient" if self.payer == "patient" else "payer"
        return f"Payment recorded from {who}: {self.amount} {self.currency} ({self.method})"
