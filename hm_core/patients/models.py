"""The patient read model, built from patient events by `projections.py`."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models.functions import Lower

from hm_core.common.models import ScopedModel, ScopeLevel
from hm_core.patients.demographics import ADDRESS_FIELDS, CONTACT_FIELDS

GENDERS = [("M", "Male"), ("F", "Female"), ("O", "Other"), ("U", "Unknown")]


class Patient(ScopedModel):
    """A patient of the tenant; `facility_id` is where they were registered."""

    scope_level: ClassVar[ScopeLevel] = "tenant"
    patient_field: ClassVar[str | None] = "id"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    mrn = models.CharField(max_length=64)
    full_name = models.CharField(max_length=200)
    # 200 like `full_name`: a legacy name split by the migration fits whatever its parts.
    given_name = models.CharField(max_length=200, blank=True)
    middle_name = models.CharField(max_length=200, blank=True)
    family_name = models.CharField(max_length=200, blank=True)
    date_of_birth = models.DateField()
    gender = models.CharField(max_length=1, choices=GENDERS)
    phone = models.CharField(max_length=32, blank=True)
    # Always lower case: `?email=` matches exactly on an index.
    email = models.CharField(max_length=254, blank=True)
    # 500 like the free-text address that legacy rows moved into line 1.
    address_line1 = models.CharField(max_length=500, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    address_city = models.CharField(max_length=100, blank=True)
    address_state = models.CharField(max_length=50, blank=True)
    address_postal_code = models.CharField(max_length=20, blank=True)
    # Empty only for migrated legacy addresses and HL7 addresses sent without a country.
    address_country = models.CharField(max_length=2, blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_relationship = models.CharField(max_length=50, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    # Plain text until issue 11 encrypts it (contract §18).
    national_id = models.CharField(max_length=64, blank=True)
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
            models.Index(
                fields=["tenant_id", "is_deleted", "family_name", "given_name"],
                name="patients_by_family_name",
            ),
            models.Index(
                fields=["tenant_id", "is_deleted", "given_name"], name="patients_by_given_name"
            ),
            models.Index(fields=["tenant_id", "email"], name="patients_by_email"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.mrn})"

    @property
    def address(self) -> dict[str, str] | None:
        """The address as the API and the events show it; None when there is none."""
        address = {key: getattr(self, f"address_{key}") for key in ADDRESS_FIELDS}
        return address if any(address.values()) else None

    @property
    def emergency_contact(self) -> dict[str, str] | None:
        contact = {key: getattr(self, f"emergency_contact_{key}") for key in CONTACT_FIELDS}
        return contact if any(contact.values()) else None
