"""Billing read models: the charge lines of each encounter's account, and the account itself."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from hm_core.common.models import ScopedModel, ScopeLevel


class Account(ScopedModel):
    """One per encounter: OPEN while the visit runs, FINAL once closed, VOID when cancelled."""

    encounter_id = models.UUIDField(primary_key=True)
    # The invoice's id (contract §15): `domain.account_stream_id(encounter_id)`, so stable.
    invoice_id = models.UUIDField(null=True)
    patient_id = models.UUIDField()
    status = models.CharField(max_length=8)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True)  # when it became FINAL or VOID

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "status", "opened_at"],
                name="billing_accounts_by_status",
            ),
            models.Index(fields=["tenant_id", "invoice_id"], name="billing_accounts_by_invoice"),
        ]

    def __str__(self) -> str:
        return f"account {self.encounter_id} ({self.status})"


class ChargeLine(ScopedModel):
    """One posted charge; reversed charges stay, marked REVERSED, for the account's history."""

    id = models.UUIDField(primary_key=True)
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    code = models.CharField(max_length=32)
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=8)
    order_item_id = models.UUIDField(null=True)
    # The posting event's tenant position: a total order of charges, identical on replay.
    position = models.BigIntegerField()
    posted_at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True)
    reversal_reason = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The invoice: an encounter's active lines in posting order.
            models.Index(
                fields=["tenant_id", "facility_id", "encounter_id", "status", "position"],
                name="billing_lines_by_encounter",
            ),
            # Reversals: the charges of cancelled order items.
            models.Index(fields=["tenant_id", "order_item_id"], name="billing_lines_by_item"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.amount} {self.currency} ({self.status})"


class Payer(ScopedModel):
    """An insurer, government scheme or corporate payer: reference data of the whole tenant."""

    scope_level: ClassVar[ScopeLevel] = "tenant"

    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=200)
    payer_code = models.CharField(max_length=32)
    kind = models.CharField(max_length=16)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "payer_code"], name="billing_payer_code_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "name", "id"], name="billing_payers_by_name"),
            models.Index(fields=["tenant_id", "kind", "name"], name="billing_payers_by_kind"),
        ]

    def __str__(self) -> str:
        return f"payer {self.payer_code}"


class Coverage(ScopedModel):
    """A patient's coverage by a payer; tenant-wide like the patient it belongs to."""

    scope_level: ClassVar[ScopeLevel] = "tenant"

    id = models.UUIDField(primary_key=True)
    patient_id = models.UUIDField()
    payer_id = models.UUIDField()
    # As stored (`domain.member_id_store`): ciphertext once at-rest encryption is wired in.
    member_id = models.TextField()
    group_number = models.CharField(max_length=64, blank=True)
    plan_name = models.CharField(max_length=200, blank=True)
    relationship = models.CharField(max_length=8)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True)
    priority = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "patient_id", "priority", "valid_from"],
                name="billing_coverages_by_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"coverage {self.id} (priority {self.priority})"


class Claim(ScopedModel):
    """A claim on one encounter's invoice to one payer; `version` is its stream version.

    Lines are kept on the row (`[{line, service_code, description, amount, approved_amount,
    denial_reason}]`, money as strings): a claim is always read whole, never by line.
    """

    id = models.UUIDField(primary_key=True)
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    invoice_id = models.UUIDField()
    payer_id = models.UUIDField(null=True)
    coverage_id = models.UUIDField(null=True)
    status = models.CharField(max_length=16)
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    approved_total = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    paid = models.DecimalField(max_digits=12, decimal_places=2)
    lines = models.JSONField(default=list)
    diagnoses = models.JSONField(default=list)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True)
    adjudicated_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One live claim per invoice and coverage; a denied one may be claimed again.
            models.UniqueConstraint(
                fields=["tenant_id", "encounter_id", "coverage_id"],
                condition=~models.Q(status="DENIED"),
                name="billing_claim_live_uniq",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "created_at", "id"],
                name="billing_claims_by_time",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "status", "created_at"],
                name="billing_claims_by_status",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "payer_id", "created_at"],
                name="billing_claims_by_payer",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "patient_id", "created_at"],
                name="billing_claims_by_patient",
            ),
            models.Index(fields=["tenant_id", "invoice_id"], name="billing_claims_by_invoice"),
            models.Index(
                fields=["tenant_id", "facility_id", "encounter_id"],
                name="billing_claims_by_encounter",
            ),
        ]

    def __str__(self) -> str:
        return f"claim {self.id} ({self.status})"


class Payment(ScopedModel):
    """Money received against an invoice, from the patient or a payer (then for a claim)."""

    id = models.UUIDField(primary_key=True)
    invoice_id = models.UUIDField()
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    claim_id = models.UUIDField(null=True)
    payer = models.CharField(max_length=36)  # "patient" or the payer's uuid
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16)
    reference = models.CharField(max_length=200, blank=True)
    position = models.BigIntegerField()
    recorded_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "invoice_id", "position"],
                name="billing_payments_by_invoice",
            ),
            models.Index(fields=["tenant_id", "claim_id"], name="billing_payments_by_claim"),
            models.Index(
                fields=["tenant_id", "facility_id", "position"], name="billing_payments_by_time"
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.amount} {self.currency}"
