"""Clinical document use-cases: draft, sign, amend (each appends one immutable version), and
audited reads of document content."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction

from hm_core.audit.services import audited_read, audited_versions_page
from hm_core.common.errors import Forbidden
from hm_core.common.scope import Scope, scope_active
from hm_core.documents import domain
from hm_core.documents.events import DocumentEvent
from hm_core.documents.models import ClinicalDocument
from hm_core.documents.selectors import (
    document_get,
    document_version_get,
    document_versions,
    document_with_current,
)
from hm_core.encounters.selectors import encounter_get
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command

STREAM = "document"
# A decision from the document's state and its encounter's status to the new version's event.
Decision = Callable[[domain.DocumentState, str], list[DocumentEvent]]


def document_create(
    *, scope: Scope, encounter_id: uuid.UUID, doc_type: str, payload: dict[str, Any]
) -> ClinicalDocument:
    """Draft a document (v1 DRAFT) for an encounter of the caller's facility."""
    scope.require("documents.create")
    with scope_active(scope), transaction.atomic():
        encounter = encounter_get(scope=scope, encounter_id=encounter_id)
        document_id = uuid.uuid4()
        events = domain.create(
            document_id=document_id,
            encounter_id=encounter.id,
            patient_id=encounter.patient_id,
            encounter_status=encounter.status,
            doc_type=doc_type,
            payload=payload,
        )
        publish(
            scope=scope, stream=StreamRef(STREAM, document_id), expected_version=0, events=events
        )
        return document_with_current(scope=scope, document_id=document_id)


def _state(document: ClinicalDocument, *, scope: Scope) -> domain.DocumentState:
    """The decision state: the head row and the content of its latest version."""
    current = document_version_get(scope=scope, document_id=document.id, version=document.version)
    return domain.DocumentState(
        document_id=document.id,
        encounter_id=document.encounter_id,
        patient_id=document.patient_id,
        doc_type=document.doc_type,
        status=document.status,
        version=document.version,
        payload=current.payload,
    )


def _new_version(
    *,
    scope: Scope,
    permission: str,
    document_id: uuid.UUID,
    expected_version: int | None,
    decide: Decision,
) -> ClinicalDocument:
    """Load, check If-Match, decide, publish at the loaded version (a lost race is 409)."""
    if scope.principal.user_id is None:
        raise Forbidden("Only a signed-in person can sign or amend a clinical document.")

    def decide_for(document: ClinicalDocument) -> list[DocumentEvent]:
        encounter = encounter_get(scope=scope, encounter_id=document.encounter_id)
        return decide(_state(document, scope=scope), encounter.status)

    return run_command(
        scope=scope,
        permission=permission,
        stream_type=STREAM,
        load=lambda: document_with_current(scope=scope, document_id=document_id),
        decide=decide_for,
        expected_version=expected_version,
    )


def document_sign(
    *, scope: Scope, document_id: uuid.UUID, expected_version: int | None = None
) -> ClinicalDocument:
    """Sign a draft as it stands: a new FINAL version with the same content."""
    return _new_version(
        scope=scope,
        permission="documents.sign",
        document_id=document_id,
        expected_version=expected_version,
        decide=lambda s, encounter_status: list(domain.sign(s, encounter_status=encounter_status)),
    )


def document_amend(
    *,
    scope: Scope,
    document_id: uuid.UUID,
    payload: dict[str, Any],
    reason: str,
    expected_version: int | None = None,
) -> ClinicalDocument:
    """Correct a signed document: a new AMENDED version superseding the latest one."""
    return _new_version(
        scope=scope,
        permission="documents.amend",
        document_id=document_id,
        expected_version=expected_version,
        decide=lambda s, encounter_status: list(
            domain.amend(s, encounter_status=encounter_status, payload=payload, reason=reason)
        ),
    )


def document_view(*, scope: Scope, document_id: uuid.UUID) -> ClinicalDocument:
    """Read a document's current version (patient data): the read is audited."""
    return audited_read(
        scope=scope,
        permission="documents.view",
        action="document.viewed",
        load=lambda: document_with_current(scope=scope, document_id=document_id),
        patient_of=lambda document: document.patient_id,
        detail=_audit_detail,
    )


def document_versions_view(
    *, scope: Scope, document_id: uuid.UUID, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a document's versions, oldest first: the read is audited."""
    return audited_versions_page(
        scope=scope,
        permission="documents.view",
        action="document.versions_viewed",
        load=lambda: document_get(scope=scope, document_id=document_id),
        versions=lambda: document_versions(scope=scope, document_id=document_id),
        detail=_audit_detail,
        limit=limit,
        offset=offset,
    )


def _audit_detail(document: ClinicalDocument) -> dict[str, Any]:
    return {
        "document_id": str(document.id),
        "encounter_id": str(document.encounter_id),
        "version": document.version,
    }
