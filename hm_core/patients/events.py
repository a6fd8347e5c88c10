"""Patient events. Stream: ("patient", patient_id), tenant-wide, registered at a facility."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, ClassVar

from hm_core.events.base import DomainEvent


class PatientRegistered(DomainEvent):
    """A person was registered as a patient of the tenant with a new MRN."""

    event_type: ClassVar[str] = "patient.registered"
    patient_id: uuid.UUID
    mrn: str
    full_name: str
    date_of_birth: date
    gender: str
    phone: str = ""
    email: str = ""
    address: str = ""

    def summary(self) -> str:
        return f"Patient registered: {self.full_name} (MRN {self.mrn})"


class PatientUpdated(DomainEvent):
    """Demographics changed; `changes` holds the changed fields only, with their new values."""

    event_type: ClassVar[str] = "patient.updated"
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
