"""Alert events. Stream: ("alert", alert_id), facility-scoped, attached to an encounter."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from hm_core.events.base import DomainEvent


class AlertRaised(DomainEvent):
    """A clinical alert was raised (early-warning score, critical result, rejected sample)."""

    event_type: ClassVar[str] = "alert.raised"
    alert_id: uuid.UUID
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    kind: str
    severity: str
    message: str
    data: dict[str, Any] = {}

    def summary(self) -> str:
        return f"Alert raised ({self.severity}): {self.message}"


class AlertAcknowledged(DomainEvent):
    """A clinician acknowledged the alert."""

    event_type: ClassVar[str] = "alert.acknowledged"
    alert_id: uuid.UUID
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    note: str = ""

    def summary(self) -> str:
        return "Alert acknowledged" + (f": {self.note}" if self.note else "")
