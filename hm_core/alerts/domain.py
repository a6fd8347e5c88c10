"""Alert decisions — pure Python. OPEN → ACKNOWLEDGED, once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hm_core.alerts.events import CRITICAL, HIGH, WARNING, AlertAcknowledged
from hm_core.common.errors import InvalidTransition

OPEN, ACKNOWLEDGED = "OPEN", "ACKNOWLEDGED"
__all__ = ["CRITICAL", "HIGH", "WARNING", "AlertState", "acknowledge"]


@dataclass(frozen=True)
class AlertState:
    alert_id: uuid.UUID
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    status: str
    version: int


def acknowledge(state: AlertState, *, note: str) -> list[AlertAcknowledged]:
    if state.status != OPEN:
        raise InvalidTransition(details={"from": state.status, "action": "acknowledge"})
    return [
        AlertAcknowledged(
            alert_id=state.alert_id,
            encounter_id=state.encounter_id,
            patient_id=state.patient_id,
            note=note,
        )
    ]
