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


class StoredCode(ScopedModel):
    """One `code.coding` (system and code) of a stored resource, as of `version`: the search
    `code` matches rows whose version is the resource's current one, so a code an update
    dropped stops matching without a delete (a rebuild reproduces the same rows)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    resource_id = models.UUIDField()
    resource_type = models.CharField(max_length=64)
    system = models.CharField(max_length=500, blank=True)
    code = models.CharField(max_length=200)
    version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource_id", "system", "code"], name="fhir_code_uniq")
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "resource_type", "code", "system"],
                name="fhir_code_by_code",
            )
        ]

    def __str__(self) -> str:
        return f"{self.system}|{self.code}"


class ExportJob(ScopedModel):
    """One Bulk Data `$export` request of a facility: operational state, like a job queue row
    (not clinical data: it is not event-sourced); its NDJSON files live under
    `FHIR_EXPORT_ROOT/<job id>/`."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    status = models.CharField(max_length=16, choices=Status.choices)
    level = models.CharField(max_length=16, help_text="system or patient")
    types = models.JSONField(default=list)
    since = models.DateTimeField(null=True)
    request_url = models.CharField(max_length=2000)
    requested_by_id = models.UUIDField(null=True)
    requested_by = models.CharField(max_length=150)
    progress = models.CharField(max_length=200, blank=True)
    output = models.JSONField(default=list)
    error = models.JSONField(default=list)
    transaction_time = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant_id", "facility_id", "created_at"], name="fhir_exports")
        ]

    def __str__(self) -> str:
        return f"export {self.id} ({self.status})"
