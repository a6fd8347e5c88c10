"""Alert events. Stream: ("alert", alert_id), facility-scoped, attached to an encounter.

Alerts are a low, generic module: the modules that raise them (encounters for NEWS2, lab for
critical results and rejected samples) describe an alert with typed, module-neutral fields —
what it is about (`source_type`, `source_id`, `source_version`), who must act (`assignee_id`,
`assignee`) and the findings shown to the clinician — never a free-form dict read back by key.

`alert.raised` v2 replaced v1's untyped `data` dict with those fields; a stored v1 payload is
upcast by `raised_v1_to_v2` (also used by the read model's data migration).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hm_core.events.base import DomainEvent, Upcaster

# An alert's severity: `critical` blocks the encounter's close until acknowledged.
CRITICAL, HIGH, WARNING = "critical", "high", "warning"


class AlertFinding(BaseModel):
    """One finding behind an alert: a lab value with its flag, or a NEWS2 parameter's score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    value: str
    unit: str = ""
    flag: str = ""


# v1 `data` keys naming the alert's source, per v1 kind: (source_type, id key, version key).
_V1_SOURCES = {
    "news2_high": ("vitals", "vitals_id", None),
    "critical_result": ("lab_result", "result_id", "result_version"),
    "sample_rejected": ("lab_sample", "sample_id", None),
}


def _v1_findings(kind: str, data: dict[str, Any]) -> list[dict[str, str]]:
    if kind == "news2_high":
        scores = data.get("news2_parameters") or {}
        return [{"code": code, "value": str(score)} for code, score in scores.items()]
    values = data.get("values") or []
    return [
        {
            "code": v["code"],
            "value": v["value"],
            "unit": v.get("unit", ""),
            "flag": v.get("flag", ""),
        }
        for v in values
    ]


def raised_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 kept the alert's facts in an untyped `data` dict; v2 names them."""
    v2 = {key: value for key, value in payload.items() if key != "data"}
    data = payload.get("data") or {}
    source_type, id_key, version_key = _V1_SOURCES.get(payload.get("kind", ""), ("", "", None))
    v2["source_type"] = source_type
    v2["source_id"] = data.get(id_key) if id_key else None
    v2["source_version"] = data.get(version_key) if version_key else None
    v2["assignee_id"] = data.get("ordered_by_id")
    v2["assignee"] = str(data.get("ordered_by") or "") if data.get("ordered_by_id") else ""
    v2["findings"] = _v1_findings(payload.get("kind", ""), data)
    return v2


class AlertRaised(DomainEvent):
    """A clinical alert was raised (early-warning score, critical result, rejected sample)."""

    event_type: ClassVar[str] = "alert.raised"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: raised_v1_to_v2}
    alert_id: uuid.UUID
    encounter_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    kind: str
    severity: str
    message: str
    source_type: str = ""
    source_id: uuid.UUID | None = None
    source_version: int | None = None
    assignee_id: uuid.UUID | None = None
    assignee: str = ""
    findings: list[AlertFinding] = []

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
