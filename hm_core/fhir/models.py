"""The read model of FHIR resources kept as sent (`fhir.resource_stored`)."""

from __future__ import annotations

import uuid

from django.db import models

from hm_core.common.models import ScopedModel


class StoredResource(ScopedModel):
    """The current version of one resource kept as sent, at the facility that imported it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    resource_type = models.CharField(max_length=64)
    patient_id = models.UUIDField(null=True)
    source_key = models.CharField(max_length=200, blank=True)
    identifiers = models.JSONField(default=list)
    resource = models.JSONField()
    version = models.PositiveIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "resource_type", "patient_id"],
                name="fhir_stored_by_patient",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "resource_type", "updated_at"],
                name="fhir_stored_by_updated",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "resource_type", "source_key"],
                name="fhir_stored_by_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.id}"


class StoredIdentifier(ScopedModel):
    """One `system|value` identifier of a stored resource (conditional create matches on it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    resource_id = models.UUIDField()
    resource_type = models.CharField(max_length=64)
    key = models.CharField(max_length=500)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "facility_id", "resource_type", "key", "resource_id"],
                name="fhir_identifier_uniq",
            )
        ]

    def __str__(self) -> str:
        return self.key
