"""Contract §12: the FHIR R4 REST API under `/api/fhir`.

FHIR clients send paths without a trailing slash (`/api/fhir/Patient/<id>`); every route is
registered both ways, the slash-less one in the OpenAPI document. Bearer token and scope
headers as everywhere; `metadata` needs neither. Errors are OperationOutcomes (rendered by
the API's exception handlers for every `/api/fhir` path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from hm_core.common.api import scope_of
from hm_core.common.errors import BadRequest
from hm_core.fhir import services, transaction
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
    from datetime import datetime

    from django.utils.http import http_date

    return http_date(datetime.fromisoformat(meta["lastUpdated"]).timestamp())
