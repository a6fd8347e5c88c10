"""Imaging decisions — pure Python.

Linking (contract §13): an AccessionNumber equal to an IMAGING item's accession number links the
study to that item, its order and patient (a PatientID that is not that patient's MRN is kept
as a warning); else a PatientID equal to an MRN links the study to that patient; else the study
is UNMATCHED, listed for reconciliation. A study is linked once, by its first instance.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hm_core.imaging.events import InstanceStored, SeriesReceived, StudyReceived

ACCESSION, MRN, UNMATCHED = "ACCESSION", "MRN", "UNMATCHED"
LINKS = (ACCESSION, MRN, UNMATCHED)
_NAMESPACE = uuid.UUID("5b0c3f5e-2f43-4d8c-9b53-9a0e5c1f7d11")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DA = re.compile(r"^\d{8}$")

# The modality a modality worklist entry asks for, from the catalog service code's prefix.
MODALITY_BY_PREFIX = (
    ("CXR", "DX"),
    ("XR", "DX"),
    ("CT", "CT"),
    ("MR", "MR"),
    ("US", "US"),
    ("MG", "MG"),
    ("NM", "NM"),
    ("PET", "PT"),
    ("FLUORO", "RF"),
)


def study_id(tenant_id: uuid.UUID, study_instance_uid: str) -> uuid.UUID:
    """The study's stream id: one per tenant and StudyInstanceUID, whoever sends it."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:{study_instance_uid}")


def series_id(tenant_id: uuid.UUID, series_instance_uid: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}:series:{series_instance_uid}")


def valid_uid(value: str) -> bool:
    return 0 < len(value) <= 64 and bool(_UID.match(value))


def modality_for(service_code: str) -> str:
    """`CTHEAD` → CT, `CXR` → DX, `USABD` → US; OT (other) when no prefix fits."""
    code = service_code.upper()
    return next((m for prefix, m in MODALITY_BY_PREFIX if code.startswith(prefix)), "OT")


@dataclass(frozen=True)
class Header:
    """What hm_core keeps of an instance's header (the rest stays in the file)."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    accession_number: str = ""
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician: str = ""
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    instance_number: int | None = None


def header_problem(header: Header) -> str | None:
    """Why an instance cannot be stored, or None: the four identifying UIDs must be valid."""
    for name in ("study_instance_uid", "series_instance_uid", "sop_instance_uid", "sop_class_uid"):
        if not valid_uid(getattr(header, name)):
            return f"missing or invalid {name}"
    return None


@dataclass(frozen=True)
class ItemRef:
    """The IMAGING order item an accession number names, with its patient's MRN."""

    item_id: uuid.UUID
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    patient_mrn: str


@dataclass(frozen=True)
class Link:
    kind: str
    patient_id: uuid.UUID | None = None
    encounter_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None
    order_item_id: uuid.UUID | None = None
    warnings: list[str] = field(default_factory=list)


def link(header: Header, *, item: ItemRef | None, mrn_patient: uuid.UUID | None) -> Link:
    """Accession first, then PatientID = MRN, else UNMATCHED."""
    if item is not None:
        warnings = []
        if header.patient_id and header.patient_id != item.patient_mrn:
            warnings.append("PatientID does not match the ordered patient's MRN")
        return Link(
            ACCESSION,
            patient_id=item.patient_id,
            encounter_id=item.encounter_id,
            order_id=item.order_id,
            order_item_id=item.item_id,
            warnings=warnings,
        )
    if mrn_patient is not None:
        return Link(MRN, patient_id=mrn_patient)
    return Link(UNMATCHED)


@dataclass(frozen=True)
class StudyState:
    """A known study's stream version and links (what later instances inherit)."""

    version: int
    patient_id: uuid.UUID | None
    encounter_id: uuid.UUID | None
    order_item_id: uuid.UUID | None


@dataclass(frozen=True)
class Stored:
    """Where the instance's bytes went."""

    storage_key: str
    size: int
    received_via: str


def receive(
    header: Header,
    *,
    sid: uuid.UUID,
    study: StudyState | None,
    series_known: bool,
    new_link: Link,
    stored: Stored,
) -> list[StudyReceived | SeriesReceived | InstanceStored]:
    """Events for one new instance: the study's (first instance only), the series' (likewise)
    and the instance's own."""
    events: list[StudyReceived | SeriesReceived | InstanceStored] = []
    if study is None:
        events.append(_study_received(header, sid, new_link))
        study = StudyState(0, new_link.patient_id, new_link.encounter_id, new_link.order_item_id)
    if not series_known:
        events.append(_series_received(header, sid, study))
    events.append(_instance_stored(header, sid, stored))
    return events


def _series_received(header: Header, sid: uuid.UUID, study: StudyState) -> SeriesReceived:
    return SeriesReceived(
        study_id=sid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        modality=header.modality,
        series_number=header.series_number,
        series_description=header.series_description,
        patient_id=study.patient_id,
        encounter_id=study.encounter_id,
        order_item_id=study.order_item_id,
    )


def _study_received(header: Header, sid: uuid.UUID, found: Link) -> StudyReceived:
    return StudyReceived(
        study_id=sid,
        study_instance_uid=header.study_instance_uid,
        link=found.kind,
        patient_id=found.patient_id,
        encounter_id=found.encounter_id,
        order_id=found.order_id,
        order_item_id=found.order_item_id,
        warnings=found.warnings,
        accession_number=header.accession_number,
        dicom_patient_id=header.patient_id,
        dicom_patient_name=header.patient_name,
        patient_birth_date=header.patient_birth_date,
        patient_sex=header.patient_sex,
        study_date=header.study_date,
        study_time=header.study_time,
        study_id_dicom=header.study_id,
        study_description=header.study_description,
        referring_physician=header.referring_physician,
    )


def _instance_stored(header: Header, sid: uuid.UUID, stored: Stored) -> InstanceStored:
    return InstanceStored(
        study_id=sid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        sop_instance_uid=header.sop_instance_uid,
        sop_class_uid=header.sop_class_uid,
        transfer_syntax_uid=header.transfer_syntax_uid,
        instance_number=header.instance_number,
        storage_key=stored.storage_key,
        size=stored.size,
        received_via=stored.received_via,
    )


def parse_da(value: str) -> date | None:
    """A DICOM DA (YYYYMMDD) as a date; None when empty or invalid."""
    if not _DA.match(value or ""):
        return None
    try:
        return datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 - a date, no zone
    except ValueError:
        return None


class BadRange(ValueError):
    """A DICOM date range that is not `D`, `D-`, `-D` or `D-D`."""


def date_range(value: str) -> tuple[date | None, date | None]:
    """DICOM range matching: `20240101`, `20240101-`, `-20240131`, `20240101-20240131`."""
    value = value.strip()
    if not value:
        return None, None
    low, sep, high = value.partition("-")
    start, end = parse_da(low) if low else None, parse_da(high) if high else None
    if (low and start is None) or (high and end is None) or not (low or high):
        raise BadRange(value)
    return (start, end) if sep else (start, start)


def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Half-open UTC datetimes covering the days `start`..`end` inclusive."""
    low = datetime(start.year, start.month, start.day, tzinfo=UTC) if start else None
    high = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1) if end else None
    return low, high
