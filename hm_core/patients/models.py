"""The patient read model, built from patient events by `projections.py`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import ClassVar

from django.db import models
from django.db.models.functions import Lower

from hm_core.common.crypto import decrypt_field
from hm_core.common.models import ScopedModel, ScopeLevel
from hm_core.patients.demographics import CONTACT_FIELDS

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
    # Contract §18: phone, e-mail, national id and the address (its JSON) are Fernet tokens
    # (hm_core.common.crypto); the properties below decrypt them. Equality search goes through
    # the blind indexes (keyed hashes of the normalised value; e-mails lower-cased first).
    phone_encrypted = models.TextField(blank=True, default="")
    email_encrypted = models.TextField(blank=True, default="")
    national_id_encrypted = models.TextField(blank=True, default="")
    address_encrypted = models.TextField(blank=True, default="")
    phone_index = models.CharField(max_length=64, blank=True, default="")
    email_index = models.CharField(max_length=64, blank=True, default="")
    national_id_index = models.CharField(max_length=64, blank=True, default="")
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_relationship = models.CharField(max_length=50, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    # Contract §18: readable only by the care team (and by break-glass), see `access.py`.
    confidential = models.BooleanField(default=False)
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
            models.Index(fields=["tenant_id", "phone_index"], name="patients_by_phone_index"),
            models.Index(
                fields=["tenant_id", "is_deleted", "family_name", "given_name"],
                name="patients_by_family_name",
            ),
            models.Index(
                fields=["tenant_id", "is_deleted", "given_name"], name="patients_by_given_name"
            ),
            models.Index(fields=["tenant_id", "email_index"], name="patients_by_email_index"),
            models.Index(
                fields=["tenant_id", "national_id_index"], name="patients_by_national_id_index"
            ),
            # The few confidential patients of a tenant, which the care-team rule starts from
            # (hm_core/patients/access.py): without it that rule reads the whole tenant.
            models.Index(
                fields=["tenant_id", "id"],
                condition=models.Q(confidential=True),
                name="patients_confidential",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.mrn})"

    @property
    def phone(self) -> str:
        return decrypt_field(self.phone_encrypted)

    @property
    def email(self) -> str:
        return decrypt_field(self.email_encrypted)

    @property
    def national_id(self) -> str:
        return decrypt_field(self.national_id_encrypted)

    @property
    def address(self) -> dict[str, str] | None:
        """The address as the API and the events show it; None when there is none."""
        if not self.address_encrypted:
            return None
        address: dict[str, str] = json.loads(decrypt_field(self.address_encrypted))
        return address

    @property
    def emergency_contact(self) -> dict[str, str] | None:
        contact = {key: getattr(self, f"emergency_contact_{key}") for key in CONTACT_FIELDS}
        return contact if any(contact.values()) else None


class PatientConsent(ScopedModel):
    """A consent the patient gave or refused (contract §18), tenant-wide like the patient."""

    scope_level: ClassVar[ScopeLevel] = "tenant"

    id = models.UUIDField(primary_key=True)
    patient_id = models.UUIDField()
    category = models.CharField(max_length=16)
    decision = models.CharField(max_length=8)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True)
    note = models.TextField(blank=True)
    # The tenant position of the event: a later consent of a category supersedes earlier ones.
    position = models.BigIntegerField()
    version = models.PositiveIntegerField()
    recorded_at = models.DateTimeField()
    recorded_by_id = models.UUIDField(null=True)
    recorded_by = models.CharField(max_length=150)

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "patient_id", "category", "position"],
                name="consents_by_patient",
            )
        ]

    def is_active(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


class BreakGlassGrant(ScopedModel):
    """A user's time-limited access to a confidential patient outside its care team."""

    scope_level: ClassVar[ScopeLevel] = "tenant"

    id = models.UUIDField(primary_key=True)
    patient_id = models.UUIDField()
    user_id = models.UUIDField()
    username = models.CharField(max_length=150)
    reason = models.TextField()
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant_id", "user_id", "expires_at"], name="break_glass_by_user")
        ]
