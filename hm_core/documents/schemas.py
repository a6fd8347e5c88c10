"""Clinical document schemas (contract §6).

Inputs shape the request (unknown fields refused); the domain enforces the content rules
(payload at most 64 KB of JSON, doc_type a code) for every caller, API or not.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import InputSchema, PageParams
from hm_core.documents.domain import (
    DOC_TYPE_MAX_LENGTH,
    DOC_TYPE_PATTERN,
    REASON_MAX_LENGTH,
    STATUSES,
)

DocumentStatus = Literal["DRAFT", "FINAL", "AMENDED"]
assert set(STATUSES) == set(get_args(DocumentStatus))  # noqa: S101 - import-time consistency


class DocumentCreateIn(InputSchema):
    encounter: uuid.UUID
    doc_type: str = Field(min_length=1, max_length=DOC_TYPE_MAX_LENGTH, pattern=DOC_TYPE_PATTERN)
    payload: dict[str, Any]


class DocumentAmendIn(InputSchema):
    payload: dict[str, Any]
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)


class DocumentListFilters(PageParams):
    encounter: uuid.UUID | None = None
    patient: uuid.UUID | None = None
    status: DocumentStatus | None = None


class DocumentOut(Schema):
    """The document head: what lists show (content is served, and audited, one by one)."""

    id: uuid.UUID
    encounter: uuid.UUID = Field(validation_alias="encounter_id")
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    facility_id: uuid.UUID
    doc_type: str
    status: str
    version: int
    created_by_id: uuid.UUID | None
    created_by: str
    signed_by_id: uuid.UUID | None
    signed_by: str
    signed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DocumentDetailOut(DocumentOut):
    """The document with its current (latest) version's content."""

    version_id: uuid.UUID = Field(validation_alias="current.id")
    payload: dict[str, Any] = Field(validation_alias="current.payload")
    reason: str = Field(validation_alias="current.reason")
    supersedes: uuid.UUID | None = Field(validation_alias="current.supersedes_id")
    author_id: uuid.UUID | None = Field(validation_alias="current.author_id")
    author_username: str = Field(validation_alias="current.author_username")


class DocumentPageOut(Schema):
    items: list[DocumentOut]
    count: int


class DocumentVersionOut(Schema):
    """One immutable version; `supersedes` is the id of the version an amendment replaced."""

    id: uuid.UUID
    document_id: uuid.UUID
    version: int
    status: str
    payload: dict[str, Any]
    reason: str
    supersedes: uuid.UUID | None = Field(validation_alias="supersedes_id")
    author_id: uuid.UUID | None
    author_username: str
    created_at: datetime


class DocumentVersionPageOut(Schema):
    items: list[DocumentVersionOut]
    count: int
