"""Laboratory events.

Streams: ("sample", sample_id) for specimens and ("lab_result", result_id) for results, both
facility-scoped and attached to the encounter and patient of their order. Values are kept as
text so that a decimal result ("7.10") is stored exactly as reported.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hm_core.events.base import DomainEvent, Upcaster

# The alert kinds this module raises (hm_core.lab.policies); tasks route on the first.
CRITICAL_RESULT_ALERT = "critical_result"
SAMPLE_REJECTED_ALERT = "sample_rejected"


class LabEvent(DomainEvent):
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID


class SampleCreated(LabEvent):
    """A specimen is expected: one per specimen type of a lab order (or a recollection)."""

    event_type: ClassVar[str] = "lab.sample_created"
    sample_id: uuid.UUID
    specimen_type: str
    item_ids: list[uuid.UUID]
    service_codes: list[str]
    replaces_sample_id: uuid.UUID | None = None

    def summary(self) -> str:
        what = "Recollection requested" if self.replaces_sample_id else "Sample requested"
        return f"{what}: {self.specimen_type} for {', '.join(self.service_codes)}"


class SampleReceived(LabEvent):
    """The laboratory received the specimen under a barcode unique in the facility."""

    event_type: ClassVar[str] = "lab.sample_received"
    sample_id: uuid.UUID
    barcode: str
    received_at: datetime
    item_ids: list[uuid.UUID]

    def summary(self) -> str:
        return f"Sample received, barcode {self.barcode}"


class SampleRejected(LabEvent):
    """The specimen was unusable (haemolysed, clotted, mislabelled, ...)."""

    event_type: ClassVar[str] = "lab.sample_rejected"
    sample_id: uuid.UUID
    reason: str
    item_ids: list[uuid.UUID]

    def summary(self) -> str:
        return f"Sample rejected: {self.reason}"


class SampleCancelled(LabEvent):
    """Every item the specimen was for was cancelled before it was received."""

    event_type: ClassVar[str] = "lab.sample_cancelled"
    sample_id: uuid.UUID
    reason: str = ""

    def summary(self) -> str:
        return "Sample no longer needed (order cancelled)"


class AnalyteValue(BaseModel):
    """One reported value with its unit and the flag computed from the catalog's ranges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    value: str
    unit: str
    flag: str = ""  # "", "L", "H", "LL", "HH"
    reference_range: str = ""


class LabResultEvent(LabEvent):
    result_id: uuid.UUID
    order_item_id: uuid.UUID
    service_code: str
    version: int


class ResultEntered(LabResultEvent):
    """A technologist entered the result of one order item (version 1, ENTERED)."""

    event_type: ClassVar[str] = "lab.result_entered"
    sample_id: uuid.UUID
    values: list[AnalyteValue]
    is_critical: bool
    comment: str = ""

    def summary(self) -> str:
        return f"Result entered: {self.service_code} {_values(self.values)}"


def _verified_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 verifications were all made inside hm_core."""
    return {**payload, "external_laboratory": "", "external_verifier": ""}


class ResultVerified(LabResultEvent):
    """A second technologist, or the outside laboratory that reported it, verified the result.

    `external_laboratory` names that laboratory (and `external_verifier` its verifier, if sent).
    """

    event_type: ClassVar[str] = "lab.result_verified"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _verified_v1_to_v2}
    external_laboratory: str = ""
    external_verifier: str = ""

    def summary(self) -> str:
        if self.external_laboratory:
            who = ", ".join(filter(None, (self.external_verifier, self.external_laboratory)))
            return f"Result verified by the reporting laboratory ({who}): {self.service_code}"
        return f"Result verified: {self.service_code}"


class ResultReleased(LabResultEvent):
    """The verified result was released to the clinicians."""

    event_type: ClassVar[str] = "lab.result_released"
    values: list[AnalyteValue]
    is_critical: bool

    def summary(self) -> str:
        critical = " (CRITICAL)" if self.is_critical else ""
        return f"Result released{critical}: {self.service_code} {_values(self.values)}"


class ResultCorrected(LabResultEvent):
    """A released result was corrected: a new CORRECTED version supersedes the previous one."""

    event_type: ClassVar[str] = "lab.result_corrected"
    supersedes_version: int
    values: list[AnalyteValue]
    is_critical: bool
    reason: str
    comment: str = ""

    def summary(self) -> str:
        return (
            f"Result corrected (v{self.supersedes_version} → v{self.version}): "
            f"{self.service_code} {_values(self.values)} — {self.reason}"
        )


def _values(values: list[AnalyteValue]) -> str:
    return ", ".join(f"{v.code} {v.value} {v.unit}{' ' + v.flag if v.flag else ''}" for v in values)
