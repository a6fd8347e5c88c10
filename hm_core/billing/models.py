"""Billing read models: the charge lines of each encounter's account, and the account itself."""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel


class Account(ScopedModel):
    """One per encounter: OPEN while the visit runs, FINAL once closed, VOID when cancelled."""

    encounter_id = models.UUIDField(primary_key=True)
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
