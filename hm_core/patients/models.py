"""The patient read model, built from patient events by `projections.py`."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models.functions import Lower

from hm_core.common.models import ScopedModel, ScopeLevel

GENDERS = [("M", "Male"), ("F", "Female"), ("O", "Other"), ("U", "Unknown")]


class Patient(ScopedModel):
    """A patient of the tenant; `facility_id` is where they were registered."""

    scope_level: ClassVar[ScopeLevel] = "tenant"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    mrn = models.CharField(max_length=64)
    full_name = models.CharField(max_length=200)
    date_of_birth = models.DateField()
    gender = models.CharField(max_length=1, choices=GENDERS)
    phone = models.CharField(max_length=32, blank=True)
    email = models.CharField(max_length=254, blank=True)
    address = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField()
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # MRNs are never reused, not even after a soft delete; search ignores case, so
            # uniqueness does too (`LKDF85A` and `lkdf85a` are one MRN).
            models.UniqueConstraint(
                "tenant_id", Lower("mrn"), name="patients_mrn_ci_per_tenant_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["tenant_id", "is_deleted", "full_name"], name="patients_by_name"),
            models.Index(
                fields=["tenant_id", "is_deleted", "created_at"], name="patients_by_created"
            ),
            models.Index(fields=["tenant_id", "phone"], name="patients_by_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.mrn})"
