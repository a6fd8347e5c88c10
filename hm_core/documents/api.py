"""Contract §6: clinical documents — draft, list, read, versions, sign, amend (append-only)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.schemas import PageParams
from hm_core.common.scope import scope_active
from hm_core.documents import services
from hm_core.documents.models import ClinicalDocument
from hm_core.documents.schemas import (
    DocumentAmendIn,
    DocumentCreateIn,
    DocumentDetailOut,
    DocumentListFilters,
    DocumentPageOut,
    DocumentVersionPageOut,
)
from hm_core.documents.selectors import DocumentFilters, document_list

router = Router(tags=["documents"])


@router.post("/", response={201: DocumentDetailOut, **ERRORS})
def document_create(
    request: HttpRequest, payload: DocumentCreateIn, response: HttpResponse
) -> Status[ClinicalDocument]:
    """Draft a document for an encounter of this facility: version 1, DRAFT."""
    document = services.document_create(
        scope=scope_of(request),
        encounter_id=payload.encounter,
        doc_type=payload.doc_type,
        payload=payload.payload,
    )
    return Status(201, with_etag(response, document))


@router.get("/", response={200: DocumentPageOut, **ERRORS})
def document_list_page(request: HttpRequest, filters: Query[DocumentListFilters]) -> dict[str, Any]:
    """The facility's documents (heads, without content): `?encounter=&patient=&status=`."""
    scope = scope_of(request)
    scope.require("documents.view")
    with scope_active(scope):
        qs = document_list(
            scope=scope, filters=DocumentFilters(filters.encounter, filters.patient, filters.status)
        )
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/{document_id}/", response={200: DocumentDetailOut, **ERRORS})
def document_view(
    request: HttpRequest, document_id: uuid.UUID, response: HttpResponse
) -> ClinicalDocument:
    """The document with its current version's content; the read is audited."""
    document = services.document_view(scope=scope_of(request), document_id=document_id)
    return with_etag(response, document)


@router.get("/{document_id}/versions/", response={200: DocumentVersionPageOut, **ERRORS})
def document_versions_view(
    request: HttpRequest, document_id: uuid.UUID, page: Query[PageParams]
) -> dict[str, Any]:
    """Every version, oldest first, none ever changed; the read is audited."""
    return services.document_versions_view(
        scope=scope_of(request), document_id=document_id, limit=page.limit, offset=page.offset
    )


@router.post("/{document_id}/sign/", response={200: DocumentDetailOut, **ERRORS})
def document_sign(
    request: HttpRequest, document_id: uuid.UUID, response: HttpResponse
) -> ClinicalDocument:
    """DRAFT → a new FINAL version with the same content."""
    document = services.document_sign(
        scope=scope_of(request), document_id=document_id, expected_version=if_match(request)
    )
    return with_etag(response, document)


@router.post("/{document_id}/amend/", response={201: DocumentDetailOut, **ERRORS})
def document_amend(
    request: HttpRequest, document_id: uuid.UUID, payload: DocumentAmendIn, response: HttpResponse
) -> Status[ClinicalDocument]:
    """FINAL | AMENDED → a new AMENDED version superseding the latest; nothing is overwritten."""
    document = services.document_amend(
        scope=scope_of(request),
        document_id=document_id,
        payload=payload.payload,
        reason=payload.reason,
        expected_version=if_match(request),
    )
    return Status(201, with_etag(response, document))
