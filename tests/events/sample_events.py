"""Events that exist only for the store and bus tests (type prefix `test.`)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from hm_core.events.base import DomainEvent


class SampleHappened(DomainEvent):
    """A test-only fact."""

    event_type: ClassVar[str] = "test.sample_happened"
    sample_id: uuid.UUID
    note: str = ""


class SampleRenamed(DomainEvent):
    """A test-only event at version 2, with an upcaster from version 1 (`title` → `name`)."""

    event_type: ClassVar[str] = "test.sample_renamed"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar = {1: lambda p: {"sample_id": p["sample_id"], "name": p["title"]}}
    sample_id: uuid.UUID
    name: str


class SampleNoted(DomainEvent):
    """A test-only note attached to an encounter, to fill timelines quickly."""

    event_type: ClassVar[str] = "test.sample_noted"
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    n: int

    def summary(self) -> str:
        return f"Note {self.n}"
