"""Encounter state machine and decisions — pure Python, no Django.

    SCHEDULED → CHECKED_IN → IN_CONSULT → CLOSED
    SCHEDULED | CHECKED_IN → CANCELLED

Vitals may be recorded once the patient is checked in and during the consultation; the
assessment and plan only during the consultation. Closing needs every close-gate rule to pass.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.encounters import news2
from hm_core.encounters.errors import CloseGateFailed
from hm_core.encounters.events import (
    AssessmentRecorded,
    ConsultStarted,
    Diagnosis,
    EncounterCancelled,
    EncounterCheckedIn,
    EncounterClosed,
    EncounterCreated,
    PlanRecorded,
    VitalsRecorded,
)

SCHEDULED, CHECKED_IN, IN_CONSULT, CLOSED, CANCELLED = (
    "SCHEDULED",
    "CHECKED_IN",
    "IN_CONSULT",
    "CLOSED",
    "CANCELLED",
)
STATUSES = (SCHEDULED, CHECKED_IN, IN_CONSULT, CLOSED, CANCELLED)


@dataclass(frozen=True)
class EncounterState:
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    status: str
    version: int
    vitals_count: int = 0
    has_assessment: bool = False
    has_plan: bool = False
    latest_news2: int | None = None


def _require(state: EncounterState, *allowed: str, action: str) -> None:
    if state.status not in allowed:
        raise InvalidTransition(
            f"Cannot {action} an encounter that is {state.status}.",
            details={"from": state.status, "action": action, "allowed_from": list(allowed)},
        )


def create(
    *,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    reason: str,
    scheduled_at: datetime,
    visit_number: str = "",
) -> list[EncounterCreated]:
    return [
        EncounterCreated(
            encounter_id=encounter_id,
            patient_id=patient_id,
            reason=reason,
            scheduled_at=scheduled_at,
            visit_number=visit_number,
        )
    ]


def check_in(state: EncounterState) -> list[EncounterCheckedIn]:
    _require(state, SCHEDULED, action="check in")
    return [EncounterCheckedIn(encounter_id=state.encounter_id, patient_id=state.patient_id)]


def record_vitals(
    state: EncounterState, *, vitals_id: uuid.UUID, vitals: news2.Vitals
) -> list[VitalsRecorded]:
    """Validate physiology (422 on impossible values) and score NEWS2 with the vitals."""
    _require(state, CHECKED_IN, IN_CONSULT, action="record vitals for")
    problems = news2.vitals_problems(vitals)
    if problems:
        raise ValidationFailed(
            "Physiologically impossible vital signs.",
            details=[{"field": p.field, "message": p.message} for p in problems],
        )
    return [
        vitals_recorded(
            encounter_id=state.encounter_id,
            patient_id=state.patient_id,
            vitals_id=vitals_id,
            vitals=vitals,
        )
    ]


def vitals_recorded(
    *, encounter_id: uuid.UUID, patient_id: uuid.UUID, vitals_id: uuid.UUID, vitals: news2.Vitals
) -> VitalsRecorded:
    """The vitals event with the NEWS2 score of these vitals, computed now and kept with them."""
    score = news2.news2(vitals)
    return VitalsRecorded(
        encounter_id=encounter_id,
        patient_id=patient_id,
        vitals_id=vitals_id,
        blood_pressure_systolic=vitals.blood_pressure_systolic,
        blood_pressure_diastolic=vitals.blood_pressure_diastolic,
        pulse=vitals.pulse,
        temperature=str(vitals.temperature),
        temperature_unit=vitals.temperature_unit,
        spo2=vitals.spo2,
        respiratory_rate=vitals.respiratory_rate,
        consciousness=vitals.consciousness,
        supplemental_oxygen=vitals.supplemental_oxygen,
        news2_total=score.total,
        news2_parameters=score.parameters,
        news2_risk=score.risk,
        news2_complete=score.complete,
        news2_alert=score.alert,
    )


def start_consult(state: EncounterState) -> list[ConsultStarted]:
    _require(state, CHECKED_IN, action="start the consultation of")
    return [ConsultStarted(encounter_id=state.encounter_id, patient_id=state.patient_id)]


def icd10_code(code: str) -> str:
    """The ICD-10 code in its dotted form ("J45909" → "J45.909"); ValueError unless it names a
    category or subcategory of the ICD-10-CM tabular list (checked by `simple_icd_10_cm`)."""
    # Imported on first use: the library loads the whole tabular list (~1.5 s) at import.
    import simple_icd_10_cm as icd10

    candidate = code.strip().upper()
    if not candidate or not icd10.is_category_or_subcategory(candidate):
        raise ValueError(f"{code!r} is not an ICD-10 code (e.g. J45.909, I10)")
    return str(icd10.add_dot(candidate))


def record_assessment(
    state: EncounterState, *, assessment: str, diagnoses: tuple[Diagnosis, ...] = ()
) -> list[AssessmentRecorded]:
    _require(state, IN_CONSULT, action="record an assessment for")
    return [
        AssessmentRecorded(
            encounter_id=state.encounter_id,
            patient_id=state.patient_id,
            assessment=assessment,
            diagnoses=diagnoses,
        )
    ]


def record_plan(state: EncounterState, *, plan: str) -> list[PlanRecorded]:
    _require(state, IN_CONSULT, action="record a plan for")
    return [PlanRecorded(encounter_id=state.encounter_id, patient_id=state.patient_id, plan=plan)]


def close(state: EncounterState, *, failed_rules: list[str]) -> list[EncounterClosed]:
    """Close when in consultation and no close-gate rule failed (codes listed in details)."""
    _require(state, IN_CONSULT, action="close")
    if failed_rules:
        raise CloseGateFailed(details=failed_rules)
    return [EncounterClosed(encounter_id=state.encounter_id, patient_id=state.patient_id)]


def cancel(state: EncounterState, *, reason: str) -> list[EncounterCancelled]:
    _require(state, SCHEDULED, CHECKED_IN, action="cancel")
    return [
        EncounterCancelled(
            encounter_id=state.encounter_id,
            patient_id=state.patient_id,
            reason=reason,
            from_status=state.status,
        )
    ]


def close_gate_facts(state: EncounterState, *, open_critical_alerts: int) -> dict[str, object]:
    """The facts close-gate rules are evaluated against."""
    return {
        "status": state.status,
        "vitals_recorded": state.vitals_count > 0,
        "vitals_count": state.vitals_count,
        "assessment_recorded": state.has_assessment,
        "plan_recorded": state.has_plan,
        "latest_news2": state.latest_news2,
        "open_critical_alerts": open_critical_alerts,
    }
