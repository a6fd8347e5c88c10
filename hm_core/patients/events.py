"""Patient events. Stream: ("patient", patient_id), tenant-wide, registered at a facility."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import field_validator

from hm_core.common.crypto import decrypt_field, is_encrypted, seal
from hm_core.events.base import DomainEvent, Upcaster
from hm_core.patients.demographics import legacy_address, split_full_name

# Contract §18: these fields are stored encrypted, in event payloads as in the read model.
SEALED_TEXT = ("phone", "email", "national_id")
SEALED = (*SEALED_TEXT, "address")


def _structured_v1(fields: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: free-text `full_name` also split into its parts (the data migration's
    rule), free-text `address` → `{line1}` with country unknown, e-mail lower-cased."""
    fields = dict(fields)
    if "full_name" in fields:
        given, middle, family = split_full_name(fields["full_name"])
        fields |= {"given_name": given, "middle_name": middle, "family_name": family}
    if "address" in fields:
        fields["address"] = legacy_address(fields["address"] or "")
    if "email" in fields:
        fields["email"] = (fields["email"] or "").lower()
    return fields


def _updated_v1(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "changes": _structured_v1(payload["changes"])}


def seal_address(value: Any) -> str | None:
    """An address object as one token (its JSON with sorted keys); a token kept; none → None."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return seal(json.dumps(value, sort_keys=True, separators=(",", ":")))
    return seal(str(value))


def open_address(token: Any) -> dict[str, str] | None:
    """The address object a token holds (None for none); a missing key raises, never blanks.
    An object is returned as it is (a timeline entry written before encryption)."""
    if not token:
        return None
    if isinstance(token, dict):
        return token
    address: dict[str, str] = json.loads(decrypt_field(token))
    return address


def open_text(value: Any) -> str:
    """A token's plaintext; plaintext (written before encryption) as it is."""
    value = str(value or "")
    return decrypt_field(value) if is_encrypted(value) else value


def sealed(fields: dict[str, Any]) -> dict[str, Any]:
    """The protected fields among `fields` encrypted (tokens kept as they are)."""
    out = dict(fields)
    for name in SEALED_TEXT:
        if name in out:
            out[name] = seal(str(out[name] or ""))
    if "address" in out:
        out["address"] = seal_address(out["address"])
    return out


def opened(fields: dict[str, Any]) -> dict[str, Any]:
    """The protected fields among `fields` decrypted, for readers entitled to plaintext."""
    out = dict(fields)
    for name in SEALED_TEXT:
        if name in out:
            out[name] = open_text(out[name])
    if "address" in out:
        out["address"] = open_address(out["address"])
    return out


def _sealed_v2(fields: dict[str, Any]) -> dict[str, Any]:
    """Version 2 → 3: phone, e-mail, address and national id encrypted (contract §18). Stored
    version-2 payloads stay plaintext (the hash chain covers them as they are); loading them
    yields the version-3 form."""
    return sealed(fields)


def _updated_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "changes": sealed(payload["changes"])}


class PatientRegistered(DomainEvent):
    """A person was registered as a patient of the tenant with a new MRN.

    v2: structured name (`full_name` stays, as sent or derived), structured `address` and
    `emergency_contact` (objects or null), lower-cased `email`, `national_id`.
    v3: `phone`, `email`, `national_id` and `address` (its JSON) are Fernet tokens (contract
    §18); built from plaintext, an event encrypts them itself, so no plaintext is ever stored;
    `confidential` (false unless sent) limits the patient to its care team."""

    event_type: ClassVar[str] = "patient.registered"
    schema_version: ClassVar[int] = 3
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _structured_v1, 2: _sealed_v2}
    patient_id: uuid.UUID
    mrn: str
    full_name: str
    given_name: str
    middle_name: str = ""
    family_name: str
    date_of_birth: date
    gender: str
    phone: str = ""
    email: str = ""
    address: str | None = None
    emergency_contact: dict[str, str] | None = None
    national_id: str = ""
    confidential: bool = False

    @field_validator(*SEALED_TEXT, mode="before")
    @classmethod
    def _seal_text(cls, value: Any) -> str:
        return seal(str(value or ""))

    @field_validator("address", mode="before")
    @classmethod
    def _seal_address(cls, value: Any) -> str | None:
        return seal_address(value)

    @classmethod
    def revealed(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return opened(payload)

    def summary(self) -> str:
        return f"Patient registered: {self.full_name} (MRN {self.mrn})"


class PatientUpdated(DomainEvent):
    """Demographics changed; `changes` holds the changed fields only, with their new values.

    v2: the fields of `patient.registered` v2; `address` and `emergency_contact` are whole
    objects (or null when cleared), a name change carries every name part that changed.
    v3: the protected fields among `changes` are tokens, as in `patient.registered` v3."""

    event_type: ClassVar[str] = "patient.updated"
    schema_version: ClassVar[int] = 3
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _updated_v1, 2: _updated_v2}
    patient_id: uuid.UUID
    changes: dict[str, Any]

    @field_validator("changes", mode="after")
    @classmethod
    def _seal_changes(cls, value: dict[str, Any]) -> dict[str, Any]:
        return sealed(value)

    @classmethod
    def revealed(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "changes": opened(payload.get("changes") or {})}

    def summary(self) -> str:
        return "Patient details updated: " + ", ".join(sorted(self.changes))


class PatientDeleted(DomainEvent):
    """The patient was soft-deleted: hidden from lists, data and events kept."""

    event_type: ClassVar[str] = "patient.deleted"
    patient_id: uuid.UUID

    def summary(self) -> str:
        return "Patient record deleted"


class PatientRestored(DomainEvent):
    """A soft-deleted patient was restored by an administrator."""

    event_type: ClassVar[str] = "patient.restored"
    patient_id: uuid.UUID

    def summary(self) -> str:
        return "Patient record restored"


class PatientConsentRecorded(DomainEvent):
    """The patient gave or refused consent for a category (treatment, data_sharing, research)
    over a period. Stream: ("consent", consent_id); a consent is never edited, a later one of
    the same category supersedes it while both are valid (contract §18)."""

    event_type: ClassVar[str] = "patient.consent_recorded"
    consent_id: uuid.UUID
    patient_id: uuid.UUID
    category: str
    decision: str
    valid_from: datetime
    valid_to: datetime | None = None
    note: str = ""

    def summary(self) -> str:
        return f"Consent recorded: {self.category} {self.decision}"


class PatientBreakGlassGranted(DomainEvent):
    """A user outside a confidential patient's care team gave a reason and was granted access
    until `expires_at` (contract §18). Stream: ("break_glass", grant_id); the tenant's
    administrators are alerted and the event is the audit record."""

    event_type: ClassVar[str] = "patient.break_glass_granted"
    grant_id: uuid.UUID
    patient_id: uuid.UUID
    user_id: uuid.UUID
    reason: str
    expires_at: datetime

    def summary(self) -> str:
        return "Break-glass access to a confidential patient"
