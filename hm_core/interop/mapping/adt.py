"""ADT A01/A04/A08/A11 → patient registration, demographics, encounters (contract §11).

HL7 v2 null semantics (v2.5 §2.5.3), which senders rely on: an empty field means "nothing
sent" and never overwrites what is stored; `""` (two double quotes) means "delete" and
clears an optional value (phone, address). Name and birth date cannot be cleared, so `""`
there keeps the stored value (and is missing on a registration); `""` as sex means unknown.

PID-5 (family^given^middle) gives the structured name, PID-11 (street^other^city^state^zip^
country) the structured address. HL7 country codes are ISO 3166 alpha-3 or alpha-2 (table
0399): `USA` is `US`, a known alpha-2 code is taken as it is, anything else leaves the country
empty (unknown: the US state and ZIP rules then do not apply) rather than guessing.

The patient is found by MRN (PID-3); every change goes through the patient and encounter
services with the interface scope, so events, read models and audit agree with the REST API.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Protocol

import hl7

from hm_core.common.errors import ValidationFailed
from hm_core.common.time import utcnow
from hm_core.encounters.selectors import encounter_find_by_visit_number
from hm_core.encounters.services import encounter_cancel, encounter_check_in, encounter_create
from hm_core.interop.hl7.message import Hl7Error, Hl7Message, field
from hm_core.interop.mapping import Inbound
from hm_core.interop.mapping.common import HL7_NULL, hl7_date, hl7_datetime, patient_mrn
from hm_core.patients.selectors import patient_find_by_mrn
from hm_core.patients.services import patient_register, patient_update

GENDERS = frozenset({"M", "F", "O", "U"})
CANCEL_REASON = "Admission cancelled (ADT^A11)"
# Where each demographic comes from, for the ERR-2 of a value the patient rules refuse.
LOCATIONS = {
    "mrn": "PID^1^3",
    "full_name": "PID^1^5",
    "given_name": "PID^1^5",
    "middle_name": "PID^1^5",
    "family_name": "PID^1^5",
    "date_of_birth": "PID^1^7",
    "gender": "PID^1^8",
    "address": "PID^1^11",
    "phone": "PID^1^13",
}
# The read model's column widths: a longer value is the sender's error (AE), not a crash (207).
MAX_LENGTHS = {
    "mrn": 64,
    "full_name": 200,
    "given_name": 100,
    "middle_name": 100,
    "family_name": 100,
    "phone": 32,
}
ADDRESS_LENGTHS = {"line1": 200, "line2": 200, "city": 100, "state": 50, "postal_code": 20}
ISO_ALPHA3_TO_ALPHA2 = {"USA": "US"}


class _Patient(Protocol):
    """What the mapping reads of a patient row (another module's model is not imported)."""

    @property
    def id(self) -> uuid.UUID: ...


def admit(inbound: Inbound) -> None:
    """A01/A04: the patient (registered or brought up to date), then a checked-in encounter;
    a visit number seen before (PV1-19) means this admission is already applied."""
    message, scope = inbound.message, inbound.scope
    patient_id = _patient_upserted(inbound)
    visit_number = _visit_number(message)
    if visit_number and _admitted_before(inbound, patient_id, visit_number):
        return
    encounter = encounter_create(
        scope=scope,
        patient_id=patient_id,
        reason=_reason(message),
        scheduled_at=_admitted_at(message),
        visit_number=visit_number,
    )
    encounter_check_in(scope=scope, encounter_id=encounter.id)


def _admitted_before(inbound: Inbound, patient_id: uuid.UUID, visit_number: str) -> bool:
    """The visit number's encounter exists (a resend, or booked by another route and now the
    patient has arrived: checked in); another patient's visit number is refused (AE 205)."""
    existing = encounter_find_by_visit_number(scope=inbound.scope, visit_number=visit_number)
    if existing is None:
        return False
    if existing.patient_id != patient_id:
        raise Hl7Error("PV1-19 names another patient's encounter.", code="205", location="PV1^1^19")
    if existing.status == "SCHEDULED":
        encounter_check_in(scope=inbound.scope, encounter_id=existing.id)
    return True


def update_patient(inbound: Inbound) -> None:
    """A08: the stored demographics follow the sender's; an unknown MRN is refused (AE 204),
    since an update must never register a patient behind the registration desk's back."""
    demographics = _demographics(_pid(inbound.message))
    patient = _patient_by_mrn(inbound, demographics["mrn"])
    if patient is None:
        raise Hl7Error("No patient has this MRN (PID-3).", code="204", location="PID^1^3")
    _patient_updated(inbound, patient, demographics)


def cancel_admit(inbound: Inbound) -> None:
    """A11: the encounter with PV1-19 as visit number is cancelled; cancelling it again is a
    no-op (the sender's retry), and a visit of another patient than PID-3's is refused."""
    scope = inbound.scope
    visit_number = _visit_number(inbound.message)
    if not visit_number:
        raise Hl7Error("PV1-19 (visit number) is empty.", code="101", location="PV1^1^19")
    encounter = encounter_find_by_visit_number(scope=scope, visit_number=visit_number)
    mrn = patient_mrn(_pid(inbound.message), required=False)
    patient = _patient_by_mrn(inbound, mrn) if mrn else None
    if encounter is None or (mrn and (patient is None or patient.id != encounter.patient_id)):
        raise Hl7Error(
            "No encounter has this visit number (PV1-19) for this patient.",
            code="204",
            location="PV1^1^19",
        )
    if encounter.status != "CANCELLED":
        encounter_cancel(scope=scope, encounter_id=encounter.id, reason=CANCEL_REASON)


# --- the patient ---------------------------------------------------------------------------


def _patient_upserted(inbound: Inbound) -> uuid.UUID:
    """The PID's patient: registered when its MRN is new, else updated where PID differs."""
    demographics = _demographics(_pid(inbound.message))
    patient = _patient_by_mrn(inbound, demographics["mrn"])
    if patient is not None:
        _patient_updated(inbound, patient, demographics)
        return patient.id
    for name, number in (("full_name", 5), ("date_of_birth", 7)):
        if not demographics.get(name):
            raise Hl7Error(
                f"PID-{number} is required to register a patient.",
                code="101",
                location=f"PID^1^{number}",
            )
    registration = {"gender": "U", "phone": "", "email": "", "address": None, **demographics}
    with _located_in_pid():
        return patient_register(scope=inbound.scope, demographics=registration).id


def _patient_updated(inbound: Inbound, patient: _Patient, demographics: dict[str, Any]) -> None:
    """Only the fields the PID sent and that differ go to `patient_update` (no empty event)."""
    changes = {
        name: value
        for name, value in demographics.items()
        if name != "mrn" and getattr(patient, name) != value
    }
    if changes:
        with _located_in_pid():
            patient_update(
                scope=inbound.scope, patient_id=patient.id, changes=changes, expected_version=None
            )


def _patient_by_mrn(inbound: Inbound, mrn: str) -> _Patient | None:
    return patient_find_by_mrn(scope=inbound.scope, mrn=mrn)


@contextmanager
def _located_in_pid() -> Iterator[None]:
    """A demographic the patient rules refuse (e.g. a future birth date) → AE 102 at its field."""
    try:
        yield
    except ValidationFailed as exc:
        details = exc.details if isinstance(exc.details, list) else []
        names = [str(d.get("field")).split(".")[0] for d in details if isinstance(d, dict)]
        location = next((LOCATIONS[n] for n in names if n in LOCATIONS), "PID")
        raise Hl7Error(f"{exc.code}: {exc.message}", code="102", location=location) from exc


# --- reading PID ---------------------------------------------------------------------------


def _pid(message: Hl7Message) -> hl7.Segment:
    pid = message.segment("PID")
    if pid is None:
        raise Hl7Error("The PID segment is missing.", code="100", location="PID")
    return pid


def _demographics(pid: hl7.Segment) -> dict[str, Any]:
    """What this PID says about the patient: the MRN and only the fields it actually sent."""
    read = {"date_of_birth": _birth_date(pid), "gender": _gender(pid), "phone": _phone(pid)}
    demographics: dict[str, Any] = {"mrn": patient_mrn(pid, required=True), **_name(pid)}
    demographics.update(_address(pid))
    demographics.update({name: value for name, value in read.items() if value is not None})
    _check_lengths(demographics)
    return demographics


def _check_lengths(demographics: dict[str, Any]) -> None:
    address = demographics.get("address") or {}
    too_long = [
        *((name, limit, demographics.get(name)) for name, limit in MAX_LENGTHS.items()),
        *((f"address {key}", limit, address.get(key)) for key, limit in ADDRESS_LENGTHS.items()),
    ]
    for name, limit, value in too_long:
        if len(value or "") > limit:
            location = LOCATIONS.get(name, "PID^1^11")
            raise Hl7Error(
                f"{name} is longer than {limit} characters.", code="102", location=location
            )


def _name(pid: hl7.Segment) -> dict[str, str]:
    """PID-5 family^given^middle as the name parts and "Given Middle Family"; nothing when
    not sent or `""`. Without a family name only the full name goes (the split rule applies)."""
    family, given, middle = (
        "" if part == HL7_NULL else part for part in (field(pid, 5, c) for c in (1, 2, 3))
    )
    full_name = " ".join(p for p in (given, middle, family) if p)
    if not family:
        return {"full_name": full_name} if full_name else {}
    return {
        "full_name": full_name,
        "given_name": given,
        "middle_name": middle,
        "family_name": family,
    }


def _birth_date(pid: hl7.Segment) -> date | None:
    """PID-7 (DTM): the date part as sent, in the sender's own zone (a birth date has none)."""
    return hl7_date(field(pid, 7), location="PID^1^7", label="PID-7 (date of birth)")


def _gender(pid: hl7.Segment) -> str | None:
    """PID-8 (table 0001 and local variants): M/F/O/U as they are, anything else `O`."""
    sex = field(pid, 8).upper()
    if not sex:
        return None
    if sex == HL7_NULL:
        return "U"
    return sex if sex in GENDERS else "O"


def _address(pid: hl7.Segment) -> dict[str, Any]:
    """PID-11, first repetition: street (its SAD sub-components) as line 1, other designation,
    city, state, postal code, country; the address type and the rest are not address.
    Nothing when not sent, a null address when `""`."""
    if _cleared(pid, 11):
        return {"address": None}
    street = " ".join(p for p in (field(pid, 11, 1, 1, s) for s in (1, 2, 3)) if p)
    line2, city, state, postal_code = (field(pid, 11, c) for c in (2, 3, 4, 5))
    country = _country(field(pid, 11, 6))
    if country == "US" and re.fullmatch(r"\d{9}", postal_code):
        postal_code = f"{postal_code[:5]}-{postal_code[5:]}"  # ZIP+4 sent without its hyphen
    address = {
        "line1": street,
        "line2": line2,
        "city": city,
        "state": state,
        "postal_code": postal_code,
        "country": country,
    }
    return {"address": address} if any(address.values()) else {}


def _country(code: str) -> str:
    """HL7 table 0399 (ISO 3166 alpha-3, often alpha-2 in practice) as ISO alpha-2, or empty."""
    code = code.upper()
    if code in ISO_ALPHA3_TO_ALPHA2:
        return ISO_ALPHA3_TO_ALPHA2[code]
    return code if re.fullmatch(r"[A-Z]{2}", code) else ""


def _phone(pid: hl7.Segment) -> str | None:
    """PID-13, first repetition: the number as formatted (XTN.1), else the unformatted one
    (XTN.12), else built from country, area and local number (XTN.5-7)."""
    if _cleared(pid, 13):
        return ""
    number = field(pid, 13, 1) or field(pid, 13, 12)
    if not number:
        country, area, local = (field(pid, 13, c) for c in (5, 6, 7))
        parts = [f"+{country}" if country else "", area, local]
        number = " ".join(p for p in parts if p) if local else ""
    return number or None


def _cleared(segment: hl7.Segment, number: int) -> bool:
    """The field is exactly `""`: the sender deletes the stored value."""
    return number < len(segment) and str(segment[number]).strip() == HL7_NULL


# --- reading PV1, PV2, EVN -----------------------------------------------------------------


def _visit_number(message: Hl7Message) -> str:
    """PV1-19 (visit number, CX.1): the key that makes a repeated admission a no-op."""
    visit_number = field(message.segment("PV1"), 19)
    if visit_number == HL7_NULL:
        return ""
    if len(visit_number) > 64:
        raise Hl7Error("PV1-19 is longer than 64 characters.", code="102", location="PV1^1^19")
    return visit_number


def _reason(message: Hl7Message) -> str:
    """PV2-3 admit reason, else EVN-4 event reason (text, else code), else e.g. "ADT A04"."""
    for segment, number in (("PV2", 3), ("EVN", 4)):
        found = message.segment(segment)
        text = field(found, number, 2) or field(found, number, 1)
        if text and text != HL7_NULL:
            return text[:500]
    return f"{message.header.message_code} {message.header.trigger_event}"


def _admitted_at(message: Hl7Message) -> datetime:
    """PV1-44 admit time, else EVN-2 recorded time, else MSH-7, else now (first valid wins)."""
    for segment, number in (("PV1", 44), ("EVN", 2), ("MSH", 7)):
        moment = hl7_datetime(field(message.segment(segment), number))
        if moment is not None:
            return moment
    return utcnow()
