"""Modality Worklist (PS3.4 K.6): the facility's scheduled IMAGING items as C-FIND answers.

Matching keys (contract §13): ScheduledProcedureStepSequence > Modality and
ScheduledProcedureStepStartDate (single date or range), AccessionNumber, PatientID (the MRN).
Return keys: PatientName, PatientID, PatientBirthDate, PatientSex, AccessionNumber,
RequestedProcedureDescription/ID, StudyInstanceUID (derived from the accession number, so the
modality's images carry a UID hm_core can predict) and the scheduled step. The step's date is
the day the order was placed (orders have no appointment time yet).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from hm_core.common.scope import Scope, scope_active
from hm_core.imaging import domain
from hm_core.orders.selectors import ScheduledImaging, imaging_scheduled
from hm_core.patients.selectors import patients_by_ids

_DICOM_SEX = {"M": "M", "F": "F", "O": "O", "U": ""}


@dataclass(frozen=True)
class WorklistQuery:
    modality: str = ""
    date_range: str = ""
    accession_number: str = ""
    patient_id: str = ""


def query_of(identifier: Dataset) -> WorklistQuery:
    """The matching keys a C-FIND identifier carries (empty: universal match)."""
    step = identifier.get("ScheduledProcedureStepSequence") or [Dataset()]
    first = step[0] if len(step) else Dataset()
    return WorklistQuery(
        modality=str(first.get("Modality", "") or "").strip(),
        date_range=str(first.get("ScheduledProcedureStepStartDate", "") or "").strip(),
        accession_number=str(identifier.get("AccessionNumber", "") or "").strip(),
        patient_id=str(identifier.get("PatientID", "") or "").strip(),
    )


def worklist(*, scope: Scope, query: WorklistQuery, station_ae: str) -> list[Dataset]:
    """Matching entries, oldest order first; a malformed date range matches nothing."""
    try:
        since, until = domain.day_bounds(*domain.date_range(query.date_range))
    except domain.BadRange:
        return []
    with scope_active(scope):
        rows = imaging_scheduled(
            scope=scope, accession_number=query.accession_number, since=since, until=until
        )
        patients = patients_by_ids(scope=scope, patient_ids=list({r.item.patient_id for r in rows}))
    entries = []
    for row in rows:
        patient = patients.get(row.item.patient_id)
        modality = domain.modality_for(row.item.service_code)
        if patient is None or (query.modality and query.modality != modality):
            continue
        if query.patient_id and query.patient_id != patient.mrn:
            continue
        entries.append(_entry(scope.tenant_id, row, patient, modality, station_ae))
    return entries


def _entry(
    tenant_id: uuid.UUID, row: ScheduledImaging, patient: Any, modality: str, station_ae: str
) -> Dataset:
    item = row.item
    ds = Dataset()
    ds.PatientName = _pn(patient.full_name)
    ds.PatientID = patient.mrn
    ds.PatientBirthDate = patient.date_of_birth.strftime("%Y%m%d")
    ds.PatientSex = _DICOM_SEX.get(patient.gender, "")
    ds.AccessionNumber = item.accession_number
    ds.RequestedProcedureDescription = item.name[:64]
    ds.RequestedProcedureID = item.accession_number
    ds.StudyInstanceUID = study_uid_for(tenant_id, item.accession_number)
    ds.ReferringPhysicianName = ""
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = station_ae
    step.ScheduledProcedureStepStartDate = row.ordered_at.strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = row.ordered_at.strftime("%H%M%S")
    step.ScheduledProcedureStepDescription = item.name[:64]
    step.ScheduledProcedureStepID = item.accession_number
    ds.ScheduledProcedureStepSequence = Sequence([step])
    return ds


def study_uid_for(tenant_id: uuid.UUID, accession_number: str) -> str:
    return str(generate_uid(prefix="2.25.", entropy_srcs=[str(tenant_id), accession_number]))


def _pn(full_name: str) -> str:
    """`Ada Lovelace` → `Lovelace^Ada` (DICOM PN: family^given)."""
    parts = full_name.split()
    if len(parts) < 2:
        return full_name
    return f"{parts[-1]}^{' '.join(parts[:-1])}"
