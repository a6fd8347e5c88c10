"""How imported FHIR resources become hm_core's own: a Patient a registration, an Encounter a
historical visit. Everything else is kept as sent (`stored.fhir_resource_store`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from hm_core.common.errors import ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters.backfill import encounter_import_history
from hm_core.encounters.services import encounter_create
from hm_core.fhir.reads import BundleReads
from hm_core.patients.selectors import patient_find_by_mrn
from hm_core.patients.services import patient_register

GENDER_CODE = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
MR_CODE = "MR"
# Synthea and many US systems write the state's name; hm_core keeps USPS codes (§11a).
US_STATE_NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA",
    "kansas": "KS", "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD",
    "massachusetts": "MA", "michigan": "MI", "minnesota": "MN", "mississippi": "MS",
    "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV", "new hampshire": "NH",
    "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN",
    "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY", "district of columbia": "DC",
    "puerto rico": "PR", "guam": "GU", "american samoa": "AS", "virgin islands": "VI",
    "northern mariana islands": "MP",
}  # fmt: skip


def patient_mrn(resource: dict[str, Any], *, source_id: str) -> str:
    """The MRN: the identifier typed MR, else the first identifier, else the sender's id."""
    identifiers = [i for i in resource.get("identifier") or [] if i.get("value")]
    typed = [
        i
        for i in identifiers
        if any(c.get("code") == MR_CODE for c in (i.get("type") or {}).get("coding") or [])
    ]
    chosen = (typed or identifiers or [{"value": source_id}])[0]
    return str(chosen["value"])[:64]


def demographics(resource: dict[str, Any], *, mrn: str) -> dict[str, Any]:
    names = resource.get("name") or [{}]
    name = next((n for n in names if n.get("use") == "official"), names[0])
    given = list(name.get("given") or [])
    telecom = resource.get("telecom") or []
    birth = resource.get("birthDate")
    if not birth:
        raise ValidationFailed(
            "A patient needs a birth date.",
            details=[{"field": "birthDate", "message": "required by hm_core"}],
        )
    return {
        "mrn": mrn,
        "given_name": given[0] if given else "",
        "middle_name": " ".join(given[1:]),
        "family_name": name.get("family") or "",
        "full_name": name.get("text") or " ".join([*given, name.get("family") or ""]).strip(),
        "date_of_birth": date.fromisoformat(birth[:10]),
        "gender": GENDER_CODE.get(resource.get("gender") or "unknown", "U"),
        "phone": _telecom(telecom, "phone"),
        "email": _telecom(telecom, "email"),
        "address": _address((resource.get("address") or [None])[0]),
        "emergency_contact": None,
        "national_id": "",
    }


def _telecom(telecom: list[dict[str, Any]], system: str) -> str:
    return next(
        (str(t["value"]) for t in telecom if t.get("system") == system and t.get("value")), ""
    )


def _address(address: dict[str, Any] | None) -> dict[str, str] | None:
    if not address or not address.get("city") or not address.get("line"):
        return None
    country = (address.get("country") or "").strip()
    country = "US" if country.upper() in ("US", "USA", "UNITED STATES") else country.upper()[:2]
    state = (address.get("state") or "").strip()
    if country == "US":
        state = US_STATE_NAMES.get(state.lower(), state.upper())
    lines = list(address.get("line") or [])
    return {
        "line1": lines[0],
        "line2": " ".join(lines[1:]),
        "city": address["city"],
        "state": state,
        "postal_code": address.get("postalCode") or "",
        "country": country,
    }


def patient_import(
    scope: Scope, resource: dict[str, Any], *, source_id: str
) -> tuple[uuid.UUID, bool]:
    """The registered patient with this MRN, or a new registration. Returns (id, created)."""
    mrn = patient_mrn(resource, source_id=source_id)
    with scope_active(scope):
        existing = patient_find_by_mrn(scope=scope, mrn=mrn)
    if existing is not None:
        return existing.id, False
    patient = patient_register(scope=scope, demographics=demographics(resource, mrn=mrn))
    return patient.id, True


def encounter_visit_number(resource: dict[str, Any], *, source_id: str) -> str:
    identifiers = [i for i in resource.get("identifier") or [] if i.get("value")]
    return str(identifiers[0]["value"] if identifiers else source_id)[:64]


def encounter_import(
    reads: BundleReads, resource: dict[str, Any], *, patient_id: uuid.UUID, source_id: str
) -> tuple[uuid.UUID, bool]:
    """The facility's encounter with this visit number (as the Bundle's reads found it, or
    an earlier entry created it), or the visit recorded as CLOSED history (no tasks).
    Returns (id, created)."""
    scope = reads.scope
    visit_number = encounter_visit_number(resource, source_id=source_id)
    reads.load_encounters([visit_number])  # read once per Bundle: usually done already
    existing = reads.by_visit.get(visit_number)
    if existing is not None:
        return existing.id, False
    period = resource.get("period") or {}
    if not period.get("start"):
        raise ValidationFailed(
            "An imported encounter needs period.start.",
            details=[{"field": "period.start", "message": "required by hm_core"}],
        )
    types = resource.get("type") or [{}]
    reasons = resource.get("reasonCode") or [{}]
    reason = types[0].get("text") or reasons[0].get("text") or "Imported encounter"
    start = datetime.fromisoformat(period["start"].replace("Z", "+00:00"))
    if resource.get("status") != "finished":  # a visit still to come or under way: scheduled
        found = encounter_create(
            scope=scope, patient_id=patient_id, reason=str(reason)[:500], scheduled_at=start,
            visit_number=visit_number,
        )  # fmt: skip
        reads.remember(visit_number, found.id, patient_id, start)
        return found.id, True
    encounter_id = encounter_import_history(
        scope=scope,
        patient_id=patient_id,
        reason=str(reason)[:500],
        visit_number=visit_number,
        start=start,
        end=datetime.fromisoformat(period["end"].replace("Z", "+00:00"))
        if period.get("end")
        else None,
    )
    reads.remember(visit_number, encounter_id, patient_id, start)
    return encounter_id, True
