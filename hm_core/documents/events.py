"""Clinical document events. Stream: ("document", document_id), facility-scoped, attached to an
encounter and its patient (so every event lands on both timelines).

Each event creates exactly one immutable version of the document: `version` is the number of
that version and equals the event's stream version. Events carry the version's content
(`payload`), so the store alone proves what was drafted, signed and amended.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from hm_core.events.base import DomainEvent


class DocumentEvent(DomainEvent):
    document_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    version: int
    doc_type: str
    payload: dict[str, Any]

    def label(self) -> str:
        """`progress_note` → `Progress note`, for human summaries."""
        return self.doc_type.replace("_", " ").replace("-", " ").capitalize()


class DocumentCreated(DocumentEvent):
    """A clinical document was drafted (version 1, DRAFT)."""

    event_type: ClassVar[str] = "document.created"

    def summary(self) -> str:
        return f"{self.label()} created (draft v{self.version})"


class DocumentSigned(DocumentEvent):
    """The draft was signed as it stood: a FINAL version with the same content."""

    event_type: ClassVar[str] = "document.signed"

    def summary(self) -> str:
        return f"{self.label()} signed (final v{self.version})"


class DocumentAmended(DocumentEvent):
    """A signed document was corrected: an AMENDED version superseding the previous one."""

    event_type: ClassVar[str] = "document.amended"
    reason: str
    supersedes_version: int

    def summary(self) -> str:
        return (
            f"{self.label()} amended (v{self.version}, supersedes v{self.supersedes_version}): "
            f"{_clip(self.reason)}"
        )


def _clip(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
