"""Contract §12: the FHIR R4 REST API under `/api/fhir`.

FHIR clients send paths without a trailing slash (`/api/fhir/Patient/<id>`); every route is
registered both ways, the slash-less one in the OpenAPI document. Bearer token and scope
headers as everywhere; `metadata` needs neither. Errors are OperationOutcomes (rendered by
the API's exception handlers for every `/api/fhir` path).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse
from ninja import Router

from hm_core.common.api import scope_of
from hm_core.common.errors import BadRequest, NotFound
from hm_core.fhir import export, services, transaction
from hm_core.fhir.capability import capability_statement
from hm_core.fhir.outcome import fhir_response

router = Router(tags=["fhir"])


def _route(method: str, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register `path` as FHIR clients send it and, hidden, with a trailing slash."""

    def decorator(view: Callable[..., Any]) -> Any:
        router.add_api_operation(path, [method], view, response={200: None}, **kw)
        router.add_api_operation(
            path + "/", [method], view, response={200: None}, include_in_schema=False, **kw
        )
        return view

    return decorator


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/api/fhir")


@_route("GET", "/metadata", auth=None)
def fhir_metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement: exactly the types, interactions and search parameters served."""
    return fhir_response(capability_statement(base=base_url(request)))


@router.post("", response={200: None}, include_in_schema=True)
def fhir_transaction(request: HttpRequest) -> HttpResponse:
    """A `transaction` (all or nothing) or `batch` Bundle of POST/PUT entries."""
    return fhir_response(transaction.bundle_process(scope_of(request), _json_body(request)))


router.add_api_operation("/", ["POST"], fhir_transaction, include_in_schema=False)


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON.", code="malformed_json") from None


@_route("GET", "/$export")
def fhir_export_system(request: HttpRequest) -> HttpResponse:
    """Bulk Data kick-off for the facility's data (`Prefer: respond-async`): 202 and the
    status URL in `Content-Location`."""
    return _export(request, level="system")


@_route("GET", "/Patient/$export")
def fhir_export_patients(request: HttpRequest) -> HttpResponse:
    """Bulk Data kick-off for every patient's compartment."""
    return _export(request, level="patient")


def _export(request: HttpRequest, *, level: str) -> HttpResponse:
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise BadRequest("Bulk export needs the header Prefer: respond-async.", code="prefer_async")
    job = export.export_start(
        scope=scope_of(request),
        level=level,
        since=_since(request.GET.get("_since")),
        types=[t for v in request.GET.getlist("_type") for t in v.split(",") if t],
        request_url=request.build_absolute_uri(),
    )
    response = HttpResponse(status=202)
    response["Content-Location"] = f"{base_url(request)}/$export-status/{job.id}"
    return response


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("_since must be a FHIR instant.", code="invalid_since") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


@_route("GET", "/$export-status/{job_id}")
def fhir_export_status(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """202 with `X-Progress` while the export runs; 200 with its manifest once done."""
    job = export.export_get(scope=scope_of(request), job_id=job_id)
    if job.status in (job.Status.QUEUED, job.Status.RUNNING):
        response = HttpResponse(status=202)
        response["X-Progress"] = job.progress or job.status
        response["Retry-After"] = "2"
        return response
    if job.status != job.Status.DONE:
        raise NotFound(f"The export was {job.status}.", details={"resource": "export"})
    files = f"{base_url(request)}/$export-file/{job.id}"
    manifest = {
        "transactionTime": job.transaction_time.isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": o["type"], "url": f"{files}/{o['file']}", "count": o["count"]}
            for o in job.output
        ],
        # patients left out by their data-sharing consent (contract §18), if any
        "error": [
            {"type": e["type"], "url": f"{files}/{e['file']}", "count": e["count"]}
            for e in job.error
            if "file" in e
        ],
    }
    return HttpResponse(json.dumps(manifest), content_type="application/json")


@_route("DELETE", "/$export-status/{job_id}")
def fhir_export_cancel(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """Cancel the export (or delete a finished one) and its files: 202."""
    export.export_cancel(scope=scope_of(request), job_id=job_id)
    return HttpResponse(status=202)


@_route("GET", "/$export-file/{job_id}/{name}")
def fhir_export_file(request: HttpRequest, job_id: uuid.UUID, name: str) -> FileResponse:
    """One NDJSON file of a finished export, streamed, behind the bearer token."""
    path = export.export_file(scope=scope_of(request), job_id=job_id, name=name)
    return FileResponse(path.open("rb"), content_type="application/fhir+ndjson")


@_route("GET", "/Patient/{patient_id}/$everything")
def fhir_patient_everything(request: HttpRequest, patient_id: str) -> HttpResponse:
    """Everything about one patient (an access or portability request), audited."""
    bundle = services.fhir_everything(
        scope_of(request),
        patient_id,
        pairs=[(k, v) for k, values in request.GET.lists() for v in values],
        base=base_url(request),
    )
    return fhir_response(bundle)


@_route("GET", "/{resource_type}")
def fhir_search(request: HttpRequest, resource_type: str) -> HttpResponse:
    """search-type: a `searchset` Bundle, paged with opaque cursors (`_count`, `next`)."""
    return _search(request, resource_type, list(request.GET.lists()))


@_route("POST", "/{resource_type}/_search")
def fhir_search_post(request: HttpRequest, resource_type: str) -> HttpResponse:
    """search-type by POST: the parameters form-encoded in the body (and in the query)."""
    return _search(request, resource_type, [*request.GET.lists(), *request.POST.lists()])


def _search(
    request: HttpRequest, resource_type: str, pairs: list[tuple[str, list[str]]]
) -> HttpResponse:
    bundle = services.fhir_search(
        scope_of(request),
        resource_type=resource_type,
        pairs=[(name, value) for name, values in pairs for value in values],
        base=base_url(request),
        strict=_strict(request),
    )
    return fhir_response(bundle)


def _strict(request: HttpRequest) -> bool:
    prefer = request.headers.get("Prefer", "")
    return any(p.strip().replace(" ", "") == "handling=strict" for p in prefer.split(";"))


@_route("GET", "/{resource_type}/{resource_id}")
def fhir_read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    """read: the current version, `ETag: W/"<version>"`."""
    return _resource(services.fhir_read(scope_of(request), resource_type, resource_id))


@_route("GET", "/{resource_type}/{resource_id}/_history")
def fhir_history(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    """history: every version of the resource, newest first, as a `history` Bundle."""
    bundle = services.fhir_history(
        scope_of(request), resource_type, resource_id, base=base_url(request)
    )
    return fhir_response(bundle)


@_route("GET", "/{resource_type}/{resource_id}/_history/{version_id}")
def fhir_vread(
    request: HttpRequest, resource_type: str, resource_id: str, version_id: str
) -> HttpResponse:
    """vread: any earlier version, rebuilt from the event store."""
    found = services.fhir_vread(scope_of(request), resource_type, resource_id, version_id)
    return _resource(found)


def _resource(resource: dict[str, Any]) -> HttpResponse:
    meta = resource["meta"]
    return fhir_response(
        resource,
        headers={"ETag": f'W/"{meta["versionId"]}"', "Last-Modified": _http_date(meta)},
    )


def _http_date(meta: dict[str, Any]) -> str:
    from django.utils.http import http_date

    return http_date(datetime.fromisoformat(meta["lastUpdated"]).timestamp())
