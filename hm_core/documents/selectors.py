"""Clinical document read use-cases over the read models (facility-scoped)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.documents.models import ClinicalDocument, DocumentVersion


@dataclass(frozen=True)
class DocumentFilters:
    encounter: uuid.UUID | None = None
    patient: uuid.UUID | None = None
    status: str | None = None


def document_get(*, scope: Scope, document_id: uuid.UUID) -> ClinicalDocument:
    """The facility's document head, or 404 — also when another facility or tenant has it."""
    document = ClinicalDocument.objects.for_scope(scope).filter(id=document_id).first()
    if document is None:
        raise NotFound(details={"resource": "document"})
    return document


def document_with_current(*, scope: Scope, document_id: uuid.UUID) -> ClinicalDocument:
    """The document head with its latest version attached as `current`."""
    document = document_get(scope=scope, document_id=document_id)
    document.current = document_version_get(
        scope=scope, document_id=document_id, version=document.version
    )
    return document


def document_version_get(*, scope: Scope, document_id: uuid.UUID, version: int) -> DocumentVersion:
    found = (
        DocumentVersion.objects.for_scope(scope)
        .filter(document_id=document_id, version=version)
        .first()
    )
    if found is None:
        raise NotFound(details={"resource": "document_version"})
    return found


def document_list(*, scope: Scope, filters: DocumentFilters) -> QuerySet[ClinicalDocument]:
    """The facility's document heads (no content: reading content is audited), oldest first."""
    qs = ClinicalDocument.objects.for_scope(scope)
    if filters.encounter is not None:
        qs = qs.filter(encounter_id=filters.encounter)
    if filters.patient is not None:
        qs = qs.filter(patient_id=filters.patient)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by("created_at", "id")


def document_versions(*, scope: Scope, document_id: uuid.UUID) -> QuerySet[DocumentVersion]:
    """Every version of one document, oldest first."""
    return (
        DocumentVersion.objects.for_scope(scope).filter(document_id=document_id).order_by("version")
    )


def document_versions_of(
    *, scope: Scope, document_ids: set[uuid.UUID]
) -> QuerySet[DocumentVersion]:
    """Every version of several documents in one query, oldest first."""
    return (
        DocumentVersion.objects.for_scope(scope)
        .filter(document_id__in=document_ids)
        .order_by("document_id", "version")
    )
