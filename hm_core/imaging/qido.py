"""QIDO-RS (PS3.18 §10.6): query parameters → read-model filters → DICOM JSON.

Matching: `PatientID`, `AccessionNumber`, `StudyInstanceUID` (single value or a comma list),
`SeriesInstanceUID`, `SOPInstanceUID`, `Modality` exact; `StudyDate` single value or range;
`ModalitiesInStudy` any of a comma list; `limit` (default 100, at most 1000) and `offset`.
Attributes may also be named by tag (`00100020=`). Each list is one query: counts and
modalities live on the study row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from pydicom.dataset import Dataset

from hm_core.common.scope import Scope
from hm_core.imaging import domain
from hm_core.imaging.errors import InvalidDicomQuery
from hm_core.imaging.models import Instance, Series, Study

MAX_LIMIT, DEFAULT_LIMIT = 1000, 100
_TAGS = {
    "00100020": "PatientID",
    "00080050": "AccessionNumber",
    "00080020": "StudyDate",
    "00080061": "ModalitiesInStudy",
    "0020000D": "StudyInstanceUID",
    "0020000E": "SeriesInstanceUID",
    "00080060": "Modality",
    "00080018": "SOPInstanceUID",
}


def params_of(query: Mapping[str, str]) -> dict[str, str]:
    """Query parameters by keyword; tags (`00100020`) are accepted as their keyword."""
    return {_TAGS.get(key.upper(), key): value for key, value in query.items()}


def page(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
        offset = int(params.get("offset", 0))
    except ValueError as exc:
        raise InvalidDicomQuery(details={"field": "limit/offset"}) from exc
    if not (limit > 0) or not (0 <= offset < 2**31):
        raise InvalidDicomQuery(details={"field": "limit/offset"})
    return min(limit, MAX_LIMIT), offset


def studies(*, scope: Scope, params: Mapping[str, str]) -> QuerySet[Study]:
    qs: QuerySet[Study] = Study.objects.for_scope(scope)
    for keyword, field in (
        ("PatientID", "dicom_patient_id"),
        ("AccessionNumber", "accession_number"),
        ("StudyInstanceUID", "study_instance_uid"),
    ):
        if params.get(keyword):
            qs = qs.filter(**{f"{field}__in": params[keyword].split(",")})
    qs = _study_dates(qs, params.get("StudyDate", ""))
    if params.get("ModalitiesInStudy"):
        modalities = params["ModalitiesInStudy"].split(",")
        with_series = Series.objects.for_scope(scope).filter(modality__in=modalities)
        qs = qs.filter(id__in=with_series.values("study_id"))
    return qs.order_by("-study_date", "study_instance_uid")


def _study_dates(qs: QuerySet[Study], value: str) -> QuerySet[Study]:
    try:
        start, end = domain.date_range(value)
    except domain.BadRange as exc:
        raise InvalidDicomQuery(details={"field": "StudyDate", "value": value}) from exc
    if start is not None:
        qs = qs.filter(study_date__gte=start)
    if end is not None:
        qs = qs.filter(study_date__lte=end)
    return qs


def series(*, scope: Scope, study: Study, params: Mapping[str, str]) -> QuerySet[Series]:
    qs = Series.objects.for_scope(scope).filter(study_id=study.id)
    if params.get("Modality"):
        qs = qs.filter(modality__in=params["Modality"].split(","))
    if params.get("SeriesInstanceUID"):
        qs = qs.filter(series_instance_uid__in=params["SeriesInstanceUID"].split(","))
    return qs.order_by("series_number", "series_instance_uid")


def instances(*, scope: Scope, series_row: Series, params: Mapping[str, str]) -> QuerySet[Instance]:
    qs = Instance.objects.for_scope(scope).filter(series_id=series_row.id)
    if params.get("SOPInstanceUID"):
        qs = qs.filter(sop_instance_uid__in=params["SOPInstanceUID"].split(","))
    return qs.order_by("instance_number", "sop_instance_uid")


def _json(ds: Dataset) -> dict[str, Any]:
    return ds.to_json_dict()


def study_json(study: Study, *, base: str) -> dict[str, Any]:
    ds = Dataset()
    ds.StudyDate = study.study_date.strftime("%Y%m%d") if study.study_date else ""
    ds.StudyTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.ModalitiesInStudy = [m for m in study.modalities.split(",") if m]
    ds.ReferringPhysicianName = study.referring_physician
    ds.PatientName = study.patient_name
    ds.PatientID = study.dicom_patient_id
    ds.PatientBirthDate = study.patient_birth_date
    ds.PatientSex = study.patient_sex
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyID = study.study_id_dicom
    ds.StudyDescription = study.study_description
    ds.NumberOfStudyRelatedSeries = study.series_count
    ds.NumberOfStudyRelatedInstances = study.instance_count
    ds.RetrieveURL = f"{base}/studies/{study.study_instance_uid}"
    return _json(ds)


def series_json(study: Study, row: Series, *, base: str) -> dict[str, Any]:
    ds = Dataset()
    ds.Modality = row.modality
    ds.SeriesDescription = row.series_description
    ds.StudyInstanceUID = study.study_instance_uid
    ds.SeriesInstanceUID = row.series_instance_uid
    if row.series_number is not None:
        ds.SeriesNumber = row.series_number
    ds.NumberOfSeriesRelatedInstances = row.instance_count
    ds.RetrieveURL = f"{base}/studies/{study.study_instance_uid}/series/{row.series_instance_uid}"
    return _json(ds)


def instance_json(row: Instance, *, base: str) -> dict[str, Any]:
    ds = Dataset()
    ds.SOPClassUID = row.sop_class_uid
    ds.SOPInstanceUID = row.sop_instance_uid
    ds.StudyInstanceUID = row.study_instance_uid
    ds.SeriesInstanceUID = row.series_instance_uid
    if row.instance_number is not None:
        ds.InstanceNumber = row.instance_number
    ds.RetrieveURL = (
        f"{base}/studies/{row.study_instance_uid}/series/{row.series_instance_uid}"
        f"/instances/{row.sop_instance_uid}"
    )
    return _json(ds)
