"""FHIR store events. Stream: ("fhir_resource", resource_id), one per resource kept as sent.

Resources of types hm_core has no model for (Condition, Immunization, Claim, ...) are kept as
sent by a FHIR import: each stored version is one event, so every version is readable again.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from hm_core.events.base import DomainEvent


class ResourceStored(DomainEvent):
    """A FHIR resource was stored as sent (a new resource or a new version of one); references
    between the imported resources already point at their hm_core ids."""

    event_type: ClassVar[str] = "fhir.resource_stored"
    resource_id: uuid.UUID
    resource_type: str
    patient_id: uuid.UUID | None = None
    source_key: str = ""  # the resource's id in the system that sent it, `Type/id`
    identifiers: list[str] = []  # `system|value` of each identifier, for conditional create
    resource: dict[str, Any]

    def summary(self) -> str:
        return f"FHIR {self.resource_type} stored"
