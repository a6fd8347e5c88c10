"""Imaging events. Stream: ("imaging_study", study_id), facility-scoped; the study id is derived
from the tenant and the StudyInstanceUID (`domain.study_id`), so every sender of a study's
instances appends to the same stream.

A study's first instance raises `imaging.study_received` (with how it was linked: accession,
MRN or unmatched), a series' first instance `imaging.series_received`, and every new instance
`imaging.instance_stored`. Only the series event is on the patient's and encounter's timelines:
one entry per series, never one per instance (a CT series is hundreds of instances).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from hm_core.events.base import DomainEvent


class StudyReceived(DomainEvent):
    """A study's first instance arrived, linked to an order item, a patient or nothing."""

    event_type: ClassVar[str] = "imaging.study_received"
    study_id: uuid.UUID
    study_instance_uid: str
    link: str  # ACCESSION | MRN | UNMATCHED
    patient_id: uuid.UUID | None = None
    encounter_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None
    order_item_id: uuid.UUID | None = None
    warnings: list[str] = []
    accession_number: str = ""
    dicom_patient_id: str = ""
    dicom_patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_id_dicom: str = ""
    study_description: str = ""
    referring_physician: str = ""

    def patient_ref(self) -> uuid.UUID | None:
        return None  # the series events are the study's timeline entries

    def encounter_ref(self) -> uuid.UUID | None:
        return None


class SeriesReceived(DomainEvent):
    """The first instance of a series arrived: the series' one timeline entry."""

    event_type: ClassVar[str] = "imaging.series_received"
    study_id: uuid.UUID
    study_instance_uid: str
    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    patient_id: uuid.UUID | None = None
    encounter_id: uuid.UUID | None = None
    order_item_id: uuid.UUID | None = None

    def summary(self) -> str:
        what = self.series_description or f"series {self.series_number or ''}".strip()
        return f"{self.modality or 'Imaging'} images received: {what}"


class InstanceStored(DomainEvent):
    """One new DICOM instance was stored (file in storage, header facts here)."""

    event_type: ClassVar[str] = "imaging.instance_stored"
    study_id: uuid.UUID
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    instance_number: int | None = None
    storage_key: str
    size: int
    received_via: str  # STOW | C-STORE

    def patient_ref(self) -> uuid.UUID | None:
        return None

    def encounter_ref(self) -> uuid.UUID | None:
        return None
