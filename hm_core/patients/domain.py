"""Patient decisions: pure functions from state and input to new events, or a coded error."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from hm_core.common.errors import InvalidTransition, NotFound, ValidationFailed
from hm_core.patients.demographics import (
    check_address,
    join_name,
    normalized_address,
    normalized_contact,
    split_full_name,
)
from hm_core.patients.events import (
    PatientBreakGlassGranted,
    PatientConsentRecorded,
    PatientDeleted,
    PatientRegistered,
    PatientRestored,
    PatientUpdated,
)

MAX_AGE_YEARS = 150
NAME_FIELDS = ("full_name", "given_name", "middle_name", "family_name")
DEMOGRAPHIC_FIELDS = (
    "mrn",
    *NAME_FIELDS,
    "date_of_birth",
    "gender",
    "phone",
    "email",
    "address",
    "emergency_contact",
    "national_id",
    "confidential",
)


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


def registered_name(names: dict[str, Any]) -> dict[str, str]:
    """Either `full_name` (parts derived by the split rule when no family name is sent) or
    `given_name` + `family_name` (`full_name` derived as "Given Middle Family")."""
    full, given, middle, family = (str(names.get(k) or "").strip() for k in NAME_FIELDS)
    if not full and not (given and family):
        missing = [k for k, v in (("given_name", given), ("family_name", family)) if not v]
        message = "required unless full_name is sent"
        raise ValidationFailed(
            "Send full_name, or given_name and family_name.",
            details=[{"field": k, "message": message} for k in ("full_name", *missing)],
        )
    if not family:
        given, middle, family = split_full_name(full)
    return {
        "full_name": full or join_name(given, middle, family),
        "given_name": given,
        "middle_name": middle,
        "family_name": family,
    }


def updated_name(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, str]:
    """A new `full_name` alone re-splits the parts; changed parts alone re-derive `full_name`
    from the parts as they now stand; both sent are taken as sent."""
    sent = {k: str(changes[k] or "").strip() for k in NAME_FIELDS if k in changes}
    if not sent:
        return {}
    if set(sent) == {"full_name"}:
        return registered_name({"full_name": sent["full_name"]})
    parts = {k: sent.get(k, str(current.get(k) or "")) for k in NAME_FIELDS[1:]}
    derived = join_name(parts["given_name"], parts["middle_name"], parts["family_name"])
    return {"full_name": sent.get("full_name") or derived, **parts}


def _normalized(fields: dict[str, Any]) -> dict[str, Any]:
    """E-mail lower-cased (it is matched case-insensitively), address and contact with every
    key; the address rules checked. Only the fields present are touched."""
    out = dict(fields)
    if "email" in out:
        out["email"] = (out["email"] or "").strip().lower()
    if "address" in out:
        out["address"] = normalized_address(out["address"])
        check_address(out["address"])
    if "emergency_contact" in out:
        out["emergency_contact"] = normalized_contact(out["emergency_contact"])
    return out


def register(
    *, patient_id: uuid.UUID, demographics: dict[str, Any], today: date
) -> list[PatientRegistered]:
    """A new patient: a name (full or given + family), a plausible birth date, valid address."""
    check_birth_date(demographics["date_of_birth"], today=today)
    fields = _normalized({"address": None, "emergency_contact": None, **demographics})
    fields |= registered_name(fields)
    return [PatientRegistered(patient_id=patient_id, **fields)]


def update(state: PatientState, *, changes: dict[str, Any], today: date) -> list[PatientUpdated]:
    """Only fields whose value really changes go into the event; nothing changed, no event."""
    changes = _normalized(changes) | updated_name(state.demographics, changes)
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


CONSENT_CATEGORIES = ("treatment", "data_sharing", "research")
CONSENT_DECISIONS = ("permit", "deny")


def record_consent(
    state: PatientState, *, consent_id: uuid.UUID, consent: dict[str, Any], now: datetime
) -> list[PatientConsentRecorded]:
    """A consent of an active patient; valid from now unless said, its end after its start."""
    if state.is_deleted:
        raise NotFound(details={"resource": "patient"})
    valid_from = consent.get("valid_from") or now
    valid_to = consent.get("valid_to")
    if valid_to is not None and valid_to <= valid_from:
        raise ValidationFailed.field("valid_to", "must be after valid_from")
    return [
        PatientConsentRecorded(
            consent_id=consent_id,
            patient_id=state.patient_id,
            category=consent["category"],
            decision=consent["decision"],
            valid_from=valid_from,
            valid_to=valid_to,
            note=consent.get("note") or "",
        )
    ]


def break_glass(
    state: PatientState,
    *,
    grant_id: uuid.UUID,
    user_id: uuid.UUID,
    reason: str,
    expires_at: datetime,
) -> list[PatientBreakGlassGranted]:
    """Access to a confidential patient for a while, with a reason; nothing to break for a
    patient that is not confidential (409), none for a deleted one (404)."""
    if state.is_deleted:
        raise NotFound(details={"resource": "patient"})
    if not state.demographics.get("confidential"):
        raise InvalidTransition(
            "The patient is not confidential: no break-glass is needed.",
            details={"confidential": False},
        )
    if not reason.strip():
        raise ValidationFailed.field("reason", "must not be blank")
    return [
        PatientBreakGlassGranted(
            grant_id=grant_id,
            patient_id=state.patient_id,
            user_id=user_id,
            reason=reason.strip(),
            expires_at=expires_at,
        )
    ]
