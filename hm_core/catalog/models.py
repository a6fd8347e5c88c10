"""The per-tenant service catalog: orderable services, their analytes, ranges and prices.

Reference data, edited by tenant administrators in the admin, not event-sourced: every order
event copies the code, name, price and currency it was placed at, so history never depends on
today's catalog.
"""

from __future__ import annotations

import uuid

from django.db import models

# What can be ordered (LAB, IMAGING, PROCEDURE) and what is only billed (SERVICE: consultation).
SERVICE_TYPES = [
    ("LAB", "Laboratory"),
    ("IMAGING", "Imaging"),
    ("PROCEDURE", "Procedure"),
    ("SERVICE", "Billable service"),
]


class ServiceItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant_id = models.UUIDField()
    code = models.CharField(max_length=32, help_text="e.g. CBC, CRP, K, CXR")
    name = models.CharField(max_length=200)
    loinc_code = models.CharField(max_length=16, blank=True)
    order_type = models.CharField(max_length=16, choices=SERVICE_TYPES)
    specimen_type = models.CharField(max_length=32, blank=True, help_text="lab only, e.g. blood")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "code"], name="catalog_code_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Analyte(models.Model):
    """One measured quantity of a lab service, with its unit and ranges (None: no limit)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    service = models.ForeignKey(ServiceItem, on_delete=models.CASCADE, related_name="analytes")
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    loinc_code = models.CharField(max_length=16, blank=True)
    unit = models.CharField(max_length=32)
    reference_low = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    reference_high = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    critical_low = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    critical_high = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "code"], name="catalog_analyte_per_service")
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.unit})"
