"""Patient decisions: pure functions from state and input to new events, or a coded error."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from hm_core.common.errors import InvalidTransition, NotFound, ValidationFailed
from hm_core.patients.events import (
    PatientDeleted,
    PatientRegistered,
    PatientRestored,
    PatientUpdated,
)

MAX_AGE_YEARS = 150
DEMOGRAPHIC_FIELDS = ("mrn", "full_name", "date_of_birth", "gender", "phone", "email", "address")


@dataclass(frozen=True)
class PatientState:
    patient_id: uuid.UUID
    version: int
    is_deleted: bool
    demographics: dict[str, Any]


def check_birth_date(date_of_birth: date, *, today: date) -> None:
    """A date of birth may not lie in the future nor more than 150 years back."""
    if date_of_birth > today:
        raise ValidationFailed.field("date_of_birth", "must not be in the future")
    try:
        limit = today.replace(year=today.year - MAX_AGE_YEARS)
    except ValueError:  # 29 February
        limit = today.replace(year=today.year - MAX_AGE_YEARS, day=28)
    if date_of_birth < limit:
        raise ValidationFailed.field(
            "date_of_birth", f"must be within the last {MAX_AGE_YEARS} years"
        )


def register(
    *, patient_id: uuid.UUID, demographics: dict[str, Any], today: date
) -> list[PatientRegistered]:
    check_birth_date(demographics["date_of_birth"], today=today)
    return [PatientRegistered(patient_id=patient_id, **demographics)]


def update(state: PatientState, *, changes: dict[str, Any], today: date) -> list[PatientUpdated]:
    """Only fields whose value really changes go into the event; nothing changed, no event."""
    changed = {k: v for k, v in changes.items() if state.demographics.get(k) != v}
    if "date_of_birth" in changed:
        check_birth_date(changed["date_of_birth"], today=today)
    if not changed:
        return []
    as_json = {k: v.isoformat() if isinstance(v, date) else v for k, v in changed.items()}
    return [PatientUpdated(patient_id=state.patient_id, changes=as_json)]


def delete(state: PatientState) -> list[PatientDeleted]:
    """A deleted patient is gone for everyone but an administrator's restore: 404 again."""
    if state.is_deleted:
        raise NotFound(details={"resource": "patient"})
    return [PatientDeleted(patient_id=state.patient_id)]


def restore(state: PatientState) -> list[PatientRestored]:
    if not state.is_deleted:
        raise InvalidTransition(details={"from": "ACTIVE"})
    return [PatientRestored(patient_id=state.patient_id)]
