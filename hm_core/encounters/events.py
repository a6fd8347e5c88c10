"""Encounter (OPD visit) events. Stream: ("encounter", encounter_id), facility-scoped.

Every event names the patient too, so that it lands on the patient's timeline as well.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hm_core.events.base import DomainEvent, Upcaster


class EncounterEvent(DomainEvent):
    encounter_id: uuid.UUID
    patient_id: uuid.UUID


class EncounterCreated(EncounterEvent):
    """An OPD visit was scheduled for a patient."""

    event_type: ClassVar[str] = "encounter.created"
    reason: str
    scheduled_at: datetime
    visit_number: str = ""  # the visit number another system gave it (HL7 PV1-19)

    def summary(self) -> str:
        return f"Encounter scheduled for {self.scheduled_at:%Y-%m-%d %H:%M} UTC: {self.reason}"


class EncounterCheckedIn(EncounterEvent):
    """The patient arrived and was checked in."""

    event_type: ClassVar[str] = "encounter.checked_in"

    def summary(self) -> str:
        return "Patient checked in"


class VitalsRecorded(EncounterEvent):
    """A set of vital signs was recorded, with its NEWS2 score computed at the time."""

    event_type: ClassVar[str] = "encounter.vitals_recorded"
    vitals_id: uuid.UUID
    blood_pressure_systolic: int
    blood_pressure_diastolic: int
    pulse: int
    temperature: str  # decimal as text, in temperature_unit
    temperature_unit: str
    spo2: int
    respiratory_rate: int | None
    consciousness: str
    supplemental_oxygen: bool
    news2_total: int
    news2_parameters: dict[str, int]
    news2_risk: str
    news2_complete: bool
    news2_alert: bool

    def summary(self) -> str:
        return (
            f"Vitals recorded: BP {self.blood_pressure_systolic}/{self.blood_pressure_diastolic}, "
            f"pulse {self.pulse}, SpO2 {self.spo2}%, temp {self.temperature} "
            f"{self.temperature_unit}, NEWS2 {self.news2_total}"
        )


class ConsultStarted(EncounterEvent):
    """The clinician started the consultation."""

    event_type: ClassVar[str] = "encounter.consult_started"

    def summary(self) -> str:
        return "Consultation started"


class Diagnosis(BaseModel):
    """A coded diagnosis: an ICD-10 code in its dotted form ("J45.909")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    system: str = "icd10"


def _assessment_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "diagnoses": []}


class AssessmentRecorded(EncounterEvent):
    """The clinician recorded (or replaced) the assessment and its coded diagnoses (v2)."""

    event_type: ClassVar[str] = "encounter.assessment_recorded"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _assessment_v1_to_v2}
    assessment: str
    diagnoses: tuple[Diagnosis, ...] = ()

    def summary(self) -> str:
        return f"Assessment recorded: {_clip(self.assessment)}"


class PlanRecorded(EncounterEvent):
    """The clinician recorded (or replaced) the plan."""

    event_type: ClassVar[str] = "encounter.plan_recorded"
    plan: str

    def summary(self) -> str:
        return f"Plan recorded: {_clip(self.plan)}"


class EncounterClosed(EncounterEvent):
    """The visit was closed after every close-gate rule passed."""

    event_type: ClassVar[str] = "encounter.closed"

    def summary(self) -> str:
        return "Encounter closed"


class EncounterCancelled(EncounterEvent):
    """The visit was cancelled before the consultation."""

    event_type: ClassVar[str] = "encounter.cancelled"
    reason: str
    from_status: str

    def summary(self) -> str:
        return f"Encounter cancelled ({self.from_status}): {_clip(self.reason)}"


def _clip(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


ENCOUNTER_EVENTS: tuple[type[EncounterEvent], ...] = (
    EncounterCreated,
    EncounterCheckedIn,
    VitalsRecorded,
    ConsultStarted,
    AssessmentRecorded,
    PlanRecorded,
    EncounterClosed,
    EncounterCancelled,
)

__all__ = [cls.__name__ for cls in ENCOUNTER_EVENTS] + ["ENCOUNTER_EVENTS", "EncounterEvent"]
