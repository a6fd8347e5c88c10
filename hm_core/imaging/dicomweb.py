"""Contract §13: DICOMweb under `/api/dicomweb` — STOW-RS, QIDO-RS, WADO-RS (PS3.18).

DICOMweb clients send paths without a trailing slash (`/api/dicomweb/studies`); every route
is registered both ways, the slash-less one in the OpenAPI document. Bearer token and scope
headers as on every endpoint. Answers are DICOM JSON (`application/dicom+json`) or
`multipart/related; type="application/dicom"`, streamed from storage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Router

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.scope import Scope, scope_active
from hm_core.imaging import qido, services, stow
from hm_core.imaging.selectors import series_get, study_get

router = Router(tags=["dicomweb"])
DICOM_JSON = "application/dicom+json"
_CHUNK = 64 * 1024


def _route(method: str, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register `path` as DICOMweb clients send it and, hidden, with a trailing slash."""

    def decorator(view: Callable[..., Any]) -> Any:
        response = {200: None, **ERRORS, 413: None, 415: None}
        router.add_api_operation(path, [method], view, response=response, **kw)
        router.add_api_operation(
            path + "/", [method], view, response=response, include_in_schema=False, **kw
        )
        return view

    return decorator


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/api/dicomweb")


def dicom_json(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(data), content_type=DICOM_JSON, status=status)


@_route("POST", "/studies")
def stow_studies(request: HttpRequest) -> HttpResponse:
    """STOW-RS: store Part-10 instances sent as `multipart/related; type="application/dicom"`;
    the store response lists referenced (00081199) and failed (00081198) instances."""
    outcomes = stow.store_body(scope_of(request), request)
    return dicom_json(stow.store_response(outcomes, base=base_url(request)))


@_route("GET", "/studies")
def qido_studies(request: HttpRequest) -> HttpResponse:
    """QIDO-RS studies: PatientID, AccessionNumber, StudyDate (ranges), ModalitiesInStudy."""
    scope, params = _qido_scope(request)
    limit, offset = qido.page(params)
    with scope_active(scope):
        rows = list(qido.studies(scope=scope, params=params)[offset : offset + limit])
    base = base_url(request)
    return dicom_json([qido.study_json(row, base=base) for row in rows])


@_route("GET", "/studies/{study}/series")
def qido_series(request: HttpRequest, study: str) -> HttpResponse:
    """QIDO-RS series of a study (Modality, SeriesInstanceUID)."""
    scope, params = _qido_scope(request)
    limit, offset = qido.page(params)
    with scope_active(scope):
        found = study_get(scope=scope, study_instance_uid=study)
        rows = list(qido.series(scope=scope, study=found, params=params)[offset : offset + limit])
    base = base_url(request)
    return dicom_json([qido.series_json(found, row, base=base) for row in rows])


@_route("GET", "/studies/{study}/series/{series}/instances")
def qido_instances(request: HttpRequest, study: str, series: str) -> HttpResponse:
    """QIDO-RS instances of a series (SOPInstanceUID)."""
    scope, params = _qido_scope(request)
    limit, offset = qido.page(params)
    with scope_active(scope):
        found = study_get(scope=scope, study_instance_uid=study)
        row = series_get(scope=scope, study=found, series_instance_uid=series)
        rows = list(qido.instances(scope=scope, series_row=row, params=params))
    base = base_url(request)
    return dicom_json([qido.instance_json(i, base=base) for i in rows[offset : offset + limit]])


@_route("GET", "/studies/{study}/series/{series}/instances/{sop}")
def wado_instance(request: HttpRequest, study: str, series: str, sop: str) -> HttpResponseBase:
    """WADO-RS: the instance as stored, in `multipart/related; type="application/dicom"`."""
    instance, fp = services.instance_open(
        scope=scope_of(request),
        sop_instance_uid=sop,
        study_instance_uid=study,
        series_instance_uid=series,
    )
    boundary = uuid.uuid4().hex
    response = StreamingHttpResponse(
        _multipart(fp, boundary=boundary, transfer_syntax=instance.transfer_syntax_uid),
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
    )
    return response


@_route("GET", "/studies/{study}/series/{series}/instances/{sop}/metadata")
def wado_metadata(request: HttpRequest, study: str, series: str, sop: str) -> HttpResponse:
    """WADO-RS metadata: the instance's header as DICOM JSON (pixel data left out)."""
    _, fp = services.instance_open(
        scope=scope_of(request),
        sop_instance_uid=sop,
        study_instance_uid=study,
        series_instance_uid=series,
        action="imaging.metadata_retrieved",
    )
    with fp:
        return dicom_json([stow.metadata_json(fp)])


def _qido_scope(request: HttpRequest) -> tuple[Scope, dict[str, str]]:
    scope = scope_of(request)
    scope.require("imaging.view")
    return scope, qido.params_of(request.GET.dict())


def _multipart(fp: IO[bytes], *, boundary: str, transfer_syntax: str) -> Iterator[bytes]:
    try:
        yield (
            f"--{boundary}\r\nContent-Type: application/dicom; transfer-syntax={transfer_syntax}"
            "\r\n\r\n"
        ).encode()
        while chunk := fp.read(_CHUNK):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()
    finally:
        fp.close()
