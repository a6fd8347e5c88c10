"""Order read models: orders and their items."""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel

PLACER_NUMBER_CONSTRAINT = "orders_placer_number_per_tenant_uniq"
ACCESSION_NUMBER_CONSTRAINT = "order_items_accession_per_tenant_uniq"


class Order(ScopedModel):
    id = models.UUIDField(primary_key=True)
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    order_type = models.CharField(max_length=16)
    priority = models.CharField(max_length=8)
    status = models.CharField(max_length=16)
    ordered_by_id = models.UUIDField(null=True)
    ordered_by = models.CharField(max_length=150)
    cancel_reason = models.CharField(max_length=500, blank=True)
    placer_order_number = models.CharField(max_length=22, blank=True, default="")
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Other systems (HL7 ORC-2/OBR-2) name one order of the tenant by it.
            models.UniqueConstraint(
                fields=["tenant_id", "placer_order_number"],
                condition=~models.Q(placer_order_number=""),
                name=PLACER_NUMBER_CONSTRAINT,
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "encounter_id", "created_at"],
                name="orders_by_encounter",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "status", "created_at"], name="orders_by_status"
            ),
            # A user's open orders in any facility (the confidential-patient care-team rule,
            # contract §18): placed rows only, a small index, read without the table.
            models.Index(
                fields=["tenant_id", "ordered_by_id", "patient_id"],
                condition=models.Q(status="PLACED"),
                name="orders_placed_by_user",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderItem(ScopedModel):
    id = models.UUIDField(primary_key=True)
    order_id = models.UUIDField()
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    service_code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    loinc_code = models.CharField(max_length=16, blank=True)
    specimen_type = models.CharField(max_length=32, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16)
    position = models.PositiveSmallIntegerField()
    accession_number = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            # An imaging study is known to PACS and modalities by it (DICOM, HL7 OBR-18).
            models.UniqueConstraint(
                fields=["tenant_id", "accession_number"],
                condition=~models.Q(accession_number=""),
                name=ACCESSION_NUMBER_CONSTRAINT,
            )
        ]
        indexes = [
            models.Index(fields=["tenant_id", "order_id", "position"], name="order_items_by_order")
        ]

    def __str__(self) -> str:
        return f"{self.service_code} ({self.status})"
