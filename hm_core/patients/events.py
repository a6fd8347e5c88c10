"""Patient events. Stream: ("patient", patient_id), tenant-wide, registered at a facility."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, ClassVar

from hm_core.events.base import DomainEvent, Upcaster
from hm_core.patients.demographics import legacy_address, split_full_name


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


class PatientRegistered(DomainEvent):
    """A person was registered as a patient of the tenant with a new MRN.

    v2: structured name (`full_name` stays, as sent or derived), structured `address` and
    `emergency_contact` (objects or null), lower-cased `email`, `national_id`."""

    event_type: ClassVar[str] = "patient.registered"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _structured_v1}
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
    address: dict[str, str] | None = None
    emergency_contact: dict[str, str] | None = None
    national_id: str = ""

    def summary(self) -> str:
        return f"Patient registered: {self.full_name} (MRN {self.mrn})"


class PatientUpdated(DomainEvent):
    """Demographics changed; `changes` holds the changed fields only, with their new values.

    v2: the fields of `patient.registered` v2; `address` and `emergency_contact` are whole
    objects (or null when cleared), a name change carries every name part that changed."""

    event_type: ClassVar[str] = "patient.updated"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _updated_v1}
    patient_id: uuid.UUID
    changes: dict[str, Any]

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
