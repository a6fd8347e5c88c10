"""Clinical document decisions — pure Python, no Django.

    create → v1 DRAFT;   sign: DRAFT → v(n+1) FINAL;   amend: FINAL | AMENDED → v(n+1) AMENDED

Versions are append-only: every decision yields one event that creates one new, immutable
version; nothing ever changes or removes an earlier one. Signing freezes the draft's content
as it stood; an amendment carries new content and a reason, and supersedes the latest version.

The encounter decides what may be written, because a document belongs to a visit:
- a new document needs an encounter that is CHECKED_IN, IN_CONSULT or CLOSED. A SCHEDULED
  visit has no patient present yet to document; a CLOSED one still takes new documents because
  discharge summaries and referral letters are routinely written after the visit ends;
- a CANCELLED encounter takes nothing (no draft, signature or amendment): the visit did not
  happen, so nothing may be attested about it. Everything else (signing and amending late
  corrections on a CLOSED visit included) is allowed.
Refusals are 409 `invalid_transition` whose details say from which document state (`from`,
null before the document exists) and, when the encounter is the reason, its status.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.documents.events import DocumentAmended, DocumentCreated, DocumentSigned

DRAFT, FINAL, AMENDED = "DRAFT", "FINAL", "AMENDED"
STATUSES = (DRAFT, FINAL, AMENDED)

# Encounter statuses (the encounters module's vocabulary, as facts handed to these decisions).
ENCOUNTER_ACCEPTS_NEW = ("CHECKED_IN", "IN_CONSULT", "CLOSED")
ENCOUNTER_CANCELLED = "CANCELLED"

MAX_PAYLOAD_BYTES = 64 * 1024
# A short code, all lower case (`progress_note`, `discharge-summary`) or all upper case — the
# contract names `RADIOLOGY_REPORT` (§13); no mixed case, no edge separator; kept as sent.
DOC_TYPE_PATTERN = r"^(?:[a-z0-9]+(?:[_-][a-z0-9]+)*|[A-Z0-9]+(?:[_-][A-Z0-9]+)*)$"
DOC_TYPE_MAX_LENGTH = 64
REASON_MAX_LENGTH = 500
_DOC_TYPE = re.compile(DOC_TYPE_PATTERN)


@dataclass(frozen=True)
class DocumentState:
    document_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    doc_type: str
    status: str
    version: int
    payload: dict[str, Any]

    def refs(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "encounter_id": self.encounter_id,
            "patient_id": self.patient_id,
            "doc_type": self.doc_type,
            "version": self.version + 1,
        }


def _encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_size(payload: dict[str, Any]) -> int:
    """Bytes of the compact UTF-8 JSON encoding: what the store keeps for one version."""
    return len(_encode(payload).encode("utf-8"))


def check_payload(payload: object) -> dict[str, Any]:
    """A JSON object of at most 64 KB; NaN, Infinity and NUL characters cannot be stored."""
    if not isinstance(payload, dict):
        raise ValidationFailed.field("payload", "must be a JSON object")
    try:
        encoded = _encode(payload)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed.field("payload", "must contain JSON values only") from exc
    if "\\u0000" in encoded:  # PostgreSQL's jsonb cannot hold NUL; refused on both engines
        raise ValidationFailed.field("payload", "must not contain NUL characters")
    size = len(encoded.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ValidationFailed.field(
            "payload", f"must be at most {MAX_PAYLOAD_BYTES} bytes as JSON (got {size})"
        )
    return payload


def check_doc_type(doc_type: str) -> str:
    """A code of 1-64 characters, one letter case (letters, digits, `_` and `-` between them)."""
    if len(doc_type) > DOC_TYPE_MAX_LENGTH or not _DOC_TYPE.match(doc_type):
        raise ValidationFailed.field(
            "doc_type", "must be a lower- or upper-case code of 1-64 letters, digits, '_' or '-'"
        )
    return doc_type


def _refuse_cancelled(*, status: str | None, encounter_status: str, action: str) -> None:
    if encounter_status == ENCOUNTER_CANCELLED:
        raise InvalidTransition(
            f"Cannot {action} a document of a cancelled encounter.",
            details={"from": status, "action": action, "encounter_status": encounter_status},
        )


def _require(state: DocumentState, *allowed: str, action: str) -> None:
    if state.status not in allowed:
        raise InvalidTransition(
            f"Cannot {action} a document that is {state.status}.",
            details={"from": state.status, "action": action, "allowed_from": list(allowed)},
        )


def _require_encounter_accepts_new(encounter_status: str) -> None:
    _refuse_cancelled(status=None, encounter_status=encounter_status, action="create")
    if encounter_status not in ENCOUNTER_ACCEPTS_NEW:
        raise InvalidTransition(
            f"Cannot create a document for an encounter that is {encounter_status}.",
            details={
                "from": None,
                "action": "create",
                "encounter_status": encounter_status,
                "allowed_encounter_statuses": list(ENCOUNTER_ACCEPTS_NEW),
            },
        )


def create(
    *,
    document_id: uuid.UUID,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    encounter_status: str,
    doc_type: str,
    payload: dict[str, Any],
) -> list[DocumentCreated]:
    """Draft version 1, for an encounter that is under way or closed (see the module doc)."""
    _require_encounter_accepts_new(encounter_status)
    return [
        DocumentCreated(
            document_id=document_id,
            encounter_id=encounter_id,
            patient_id=patient_id,
            version=1,
            doc_type=check_doc_type(doc_type),
            payload=check_payload(payload),
        )
    ]


def sign(state: DocumentState, *, encounter_status: str) -> list[DocumentSigned]:
    """Freeze the draft: a FINAL version with exactly the draft's content."""
    _require(state, DRAFT, action="sign")
    _refuse_cancelled(status=state.status, encounter_status=encounter_status, action="sign")
    return [DocumentSigned(**state.refs(), payload=state.payload)]


def amend(
    state: DocumentState, *, encounter_status: str, payload: dict[str, Any], reason: str
) -> list[DocumentAmended]:
    """Correct a signed document: new content and a reason, superseding the latest version."""
    _require(state, FINAL, AMENDED, action="amend")
    _refuse_cancelled(status=state.status, encounter_status=encounter_status, action="amend")
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX_LENGTH:
        raise ValidationFailed.field(
            "reason", f"an amendment needs a reason of 1-{REASON_MAX_LENGTH} characters"
        )
    return [
        DocumentAmended(
            **state.refs(),
            payload=check_payload(payload),
            reason=reason,
            supersedes_version=state.version,
        )
    ]
