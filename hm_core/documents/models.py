"""Clinical document read models: the document head and its append-only versions.

`ClinicalDocument` is the head: one row per document with its latest status and version number
(= its stream version). `DocumentVersion` holds every version's content. A version row is never
changed: `save()` refuses an existing row, `delete()` always refuses, and the queryset refuses
`update()`. Only a rebuild (`rebuild_projections`) drops rows in bulk, to replay them from the
immutable event store, which stays the record of truth.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.db import models

from hm_core.common.models import ScopedManager, ScopedModel, ScopedQuerySet


class ImmutableVersionError(RuntimeError):
    """An attempt to change or remove a stored document version."""


class ClinicalDocument(ScopedModel):
    """A document of an encounter; `version` is its latest version number and stream version."""

    id = models.UUIDField(primary_key=True)
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    doc_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    version = models.PositiveIntegerField()
    created_by_id = models.UUIDField(null=True)
    created_by = models.CharField(max_length=150)
    signed_by_id = models.UUIDField(null=True)
    signed_by = models.CharField(max_length=150, blank=True)
    signed_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    # The current version, attached by the selectors that serve content; not a column.
    current: DocumentVersion | None = None

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "encounter_id", "created_at"],
                name="documents_by_encounter",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "patient_id", "created_at"],
                name="documents_by_patient",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "status", "created_at"],
                name="documents_by_status",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "created_at"], name="documents_by_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.doc_type} v{self.version} ({self.status})"


class DocumentVersionQuerySet(ScopedQuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableVersionError("document versions are immutable: update() refused")


class DocumentVersionManager(ScopedManager):
    """The scoped manager (fails closed outside a scope) over the immutable queryset."""

    def get_queryset(self) -> DocumentVersionQuerySet:
        guarded = super().get_queryset()
        return DocumentVersionQuerySet(self.model, using=guarded.db)


class DocumentVersion(ScopedModel):
    """One immutable version of a document; its id is the id of the event that created it."""

    id = models.UUIDField(primary_key=True)
    document_id = models.UUIDField()
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16)
    payload = models.JSONField()
    reason = models.CharField(max_length=500, blank=True)
    supersedes_id = models.UUIDField(null=True)
    author_id = models.UUIDField(null=True)
    author_username = models.CharField(max_length=150)
    created_at = models.DateTimeField()

    objects: ClassVar[DocumentVersionManager] = DocumentVersionManager()
    all_tenants: ClassVar[models.Manager[DocumentVersion]] = models.Manager.from_queryset(
        DocumentVersionQuerySet
    )()

    class Meta:
        base_manager_name = "all_tenants"
        constraints = [
            models.UniqueConstraint(
                fields=["document_id", "version"], name="documents_version_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "document_id", "version"], name="documents_versions"),
        ]

    def __str__(self) -> str:
        return f"document {self.document_id} v{self.version} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersionError("document versions are immutable: save() refused")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableVersionError("document versions are immutable: delete() refused")
