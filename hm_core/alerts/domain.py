"""Alert decisions — pure Python. OPEN → ACKNOWLEDGED, once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hm_core.alerts.events import AlertAcknowledged
from hm_core.common.errors import InvalidTransition

OPEN, ACKNOWLEDGED = "OPEN", "ACKNOWLEDGED"
CRITICAL, HIGH, WARNING = "critical", "high", "warning"


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


def news2_severity(total: int) -> str:
    """NEWS2 7+ needs an emergency response (critical); 5-6 or a single 3, an urgent one."""
    return CRITICAL if total >= 7 else HIGH
