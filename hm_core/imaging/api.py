"""Contract §13: `/api/imaging/` — studies (list, detail) and instance files (de-identified on ask).

DICOMweb (STOW-RS, QIDO-RS, WADO-RS) is in `dicomweb.py`, mounted at `/api/dicomweb`.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from ninja import Query, Router

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.scope import scope_active
from hm_core.imaging import services
from hm_core.imaging.models import Study
from hm_core.imaging.schemas import (
    InstanceFileFilters,
    StudyDetailOut,
    StudyListFilters,
    StudyOut,
    StudyPageOut,
)
from hm_core.imaging.selectors import StudyFilters, study_list

router = Router(tags=["imaging"])


def _out(study: Study) -> dict[str, Any]:
    data = StudyOut.model_validate(
        {**study.__dict__, "status": study.link, "modalities": study.modalities.split(",")}
    ).model_dump()
    data["modalities"] = [m for m in data["modalities"] if m]
    return data


@router.get("/studies/", response={200: StudyPageOut, **ERRORS})
def study_list_page(request: HttpRequest, filters: Query[StudyListFilters]) -> dict[str, Any]:
    """The facility's studies, `?patient=&order=&status=ACCESSION|MRN|UNMATCHED`."""
    scope = scope_of(request)
    scope.require("imaging.view")
    wanted = StudyFilters(patient=filters.patient, order=filters.order, link=filters.status)
    with scope_active(scope):
        qs = study_list(scope=scope, filters=wanted)
        page = list(qs[filters.offset : filters.offset + filters.limit])
        return {"items": [_out(s) for s in page], "count": qs.count()}


@router.get("/studies/{study_uid}/", response={200: StudyDetailOut, **ERRORS})
def study_view(request: HttpRequest, study_uid: str) -> dict[str, Any]:
    """One study: series and instance counts, modality, dates, links, warnings."""
    study, series = services.study_view(scope=scope_of(request), study_instance_uid=study_uid)
    return {**_out(study), "series": series}


@router.get("/instances/{sop_uid}/file/", response={200: None, **ERRORS})
def instance_file(
    request: HttpRequest, sop_uid: str, filters: Query[InstanceFileFilters]
) -> HttpResponseBase:
    """The instance's Part-10 file; `?deidentify=true`: by the PS3.15 Basic Profile."""
    scope = scope_of(request)
    if filters.deidentify:
        _, data = services.instance_deidentified(scope=scope, sop_instance_uid=sop_uid)
        response: HttpResponseBase = HttpResponse(data, content_type="application/dicom")
    else:
        _, fp = services.instance_open(scope=scope, sop_instance_uid=sop_uid)
        response = FileResponse(fp, content_type="application/dicom")
    response["Content-Disposition"] = 'attachment; filename="instance.dcm"'
    return response
