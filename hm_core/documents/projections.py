"""Document read-model projections: the head row and one immutable version row per event.

Replay-safe: a version row's id is the id of the event that created it and is inserted with
`ignore_conflicts`, the head is inserted once and only moves forward (`version__lt`), and every
timestamp comes from the event. Applying an event twice, or rebuilding, changes nothing.
"""

from __future__ import annotations

import uuid

from hm_core.documents import domain
from hm_core.documents.events import (
    DocumentAmended,
    DocumentCreated,
    DocumentEvent,
    DocumentSigned,
)
from hm_core.documents.models import ClinicalDocument, DocumentVersion
from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import insert, update

rebuildable("documents", ClinicalDocument, DocumentVersion)


@subscribe(DocumentCreated)
def document_apply_created(event: DocumentCreated, meta: EventMeta) -> None:
    """Insert the head (once) and version 1, DRAFT."""
    insert(
        ClinicalDocument,
        ClinicalDocument(
            id=event.document_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            encounter_id=event.encounter_id,
            patient_id=event.patient_id,
            doc_type=event.doc_type,
            status=domain.DRAFT,
            version=meta.stream_version,
            created_by_id=meta.actor_id,
            created_by=meta.actor_username,
            created_at=meta.occurred_at,
            updated_at=meta.occurred_at,
        ),
    )
    _version_insert(event, meta, status=domain.DRAFT)


@subscribe(DocumentSigned)
def document_apply_signed(event: DocumentSigned, meta: EventMeta) -> None:
    """A FINAL version with the draft's content; the head records who signed and when."""
    _version_insert(event, meta, status=domain.FINAL)
    _head_advance(
        meta,
        status=domain.FINAL,
        signed_by_id=meta.actor_id,
        signed_by=meta.actor_username,
        signed_at=meta.occurred_at,
    )


@subscribe(DocumentAmended)
def document_apply_amended(event: DocumentAmended, meta: EventMeta) -> None:
    """An AMENDED version pointing at the version it supersedes."""
    supersedes_id = _version_id(meta, event.document_id, event.supersedes_version)
    _version_insert(
        event, meta, status=domain.AMENDED, reason=event.reason, supersedes_id=supersedes_id
    )
    _head_advance(meta, status=domain.AMENDED)


def _version_insert(
    event: DocumentEvent,
    meta: EventMeta,
    *,
    status: str,
    reason: str = "",
    supersedes_id: uuid.UUID | None = None,
) -> None:
    insert(
        DocumentVersion,
        DocumentVersion(
            id=meta.event_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            document_id=event.document_id,
            version=event.version,
            status=status,
            payload=event.payload,
            reason=reason,
            supersedes_id=supersedes_id,
            author_id=meta.actor_id,
            author_username=meta.actor_username,
            created_at=meta.occurred_at,
        ),
    )


def _version_id(meta: EventMeta, document_id: uuid.UUID, version: int) -> uuid.UUID | None:
    return (
        DocumentVersion.all_tenants.filter(
            tenant_id=meta.tenant_id, document_id=document_id, version=version
        )
        .values_list("id", flat=True)
        .first()
    )


def _head_advance(meta: EventMeta, **fields: object) -> None:
    """Move the head to this event's version; an older or repeated event changes nothing."""
    update(
        ClinicalDocument.all_tenants.filter(
            id=meta.stream.id, tenant_id=meta.tenant_id, version__lt=meta.stream_version
        ),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
