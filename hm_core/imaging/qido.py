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


def _el(vr: str, *values: object) -> dict[str, Any]:
    """One DICOM JSON attribute (PS3.18 F.2); empty values are sent without `Value`."""
    kept = [v for v in values if v not in ("", None)]
    if not kept:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in kept]}
    return {"vr": vr, "Value": kept}


# Written directly rather than through pydicom Datasets: a page of 100 studies costs a few
# hundred dict literals instead of 1,500 validated data elements (QIDO-RS p99, see the bench).
def study_json(study: Study, *, base: str) -> dict[str, Any]:
    return {
        "00080020": _el("DA", study.study_date.strftime("%Y%m%d") if study.study_date else ""),
        "00080030": _el("TM", study.study_time),
        "00080050": _el("SH", study.accession_number),
        "00080061": _el("CS", *study.modalities.split(",")),
        "00080090": _el("PN", study.referring_physician),
        "00081030": _el("LO", study.study_description),
        "00081190": _el("UR", f"{base}/studies/{study.study_instance_uid}"),
        "00100010": _el("PN", study.patient_name),
        "00100020": _el("LO", study.dicom_patient_id),
        "00100030": _el("DA", study.patient_birth_date),
        "00100040": _el("CS", study.patient_sex),
        "0020000D": _el("UI", study.study_instance_uid),
        "00200010": _el("SH", study.study_id_dicom),
        "00201206": _el("IS", study.series_count),
        "00201208": _el("IS", study.instance_count),
    }


def series_json(study: Study, row: Series, *, base: str) -> dict[str, Any]:
    url = f"{base}/studies/{study.study_instance_uid}/series/{row.series_instance_uid}"
    return {
        "00080060": _el("CS", row.modality),
        "0008103E": _el("LO", row.series_description),
        "00081190": _el("UR", url),
        "0020000D": _el("UI", study.study_instance_uid),
        "0020000E": _el("UI", row.series_instance_uid),
        "00200011": _el("IS", row.series_number),
        "00201209": _el("IS", row.instance_count),
    }


def instance_json(row: Instance, *, base: str) -> dict[str, Any]:
    url = (
        f"{base}/studies/{row.study_instance_uid}/series/{row.series_instance_uid}"
        f"/instances/{row.sop_instance_uid}"
    )
    return {
        "00080016": _el("UI", row.sop_class_uid),
        "00080018": _el("UI", row.sop_instance_uid),
        "00081190": _el("UR", url),
        "0020000D": _el("UI", row.study_instance_uid),
        "0020000E": _el("UI", row.series_instance_uid),
        "00200013": _el("IS", row.instance_number),
    }
