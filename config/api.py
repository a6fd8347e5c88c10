"""The one NinjaAPI: routers of every module and the handlers that render the error body."""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

from config.openapi import HmNinjaAPI
from hm_core.alerts.api import router as alerts_router
from hm_core.audit.api import router as audit_router
from hm_core.billing.api import coverages_router
from hm_core.billing.api import router as billing_router
from hm_core.common.errors import HmError, TooManyRequests, error_body
from hm_core.common.parser import JsonParser
from hm_core.documents.api import router as documents_router
from hm_core.encounters.api import router as encounters_router
from hm_core.fhir.api import router as fhir_router
from hm_core.fhir.outcome import error_response, is_fhir_path
from hm_core.health.api import router as health_router
from hm_core.iam.api import router as auth_router
from hm_core.iam.auth import scope_auth
from hm_core.iam.lifecycle_api import router as iam_router
from hm_core.idempotency.services import IdempotentReplay, replay_response
from hm_core.imaging.api import router as imaging_router
from hm_core.imaging.dicomweb import router as dicomweb_router
from hm_core.interop.api import router as interop_router
from hm_core.lab.api import router as lab_router
from hm_core.notifications.api import router as notifications_router
from hm_core.orders.api import router as orders_router
from hm_core.patients.api import router as patients_router
from hm_core.reports.api import router as reports_router
from hm_core.rules.api import router as rules_router
from hm_core.scheduling.api import router as appointments_router
from hm_core.scheduling.api import schedules_router, slots_router
from hm_core.tasks.api import router as tasks_router
from hm_core.webhooks.api import router as webhooks_router

logger = logging.getLogger("hm_core.api")

api = HmNinjaAPI(
    title="hm_core",
    version="1.0.0",
    description=(
        "Multi-tenant, event-sourced hospital core. Sign in at `/api/auth/token/`, press"
        " Authorize with the access token, and send `X-Tenant-ID` and `X-Facility-ID` of one"
        " of your memberships (`/api/auth/me/`)."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs/",
    auth=scope_auth,
    parser=JsonParser(),
)

api.add_router("/auth/", auth_router)
api.add_router("/iam/", iam_router)
api.add_router("/health/", health_router)
api.add_router("/patients/", patients_router)
api.add_router("/patients/", coverages_router)  # /patients/{id}/coverages/ (billing, §15)
api.add_router("/encounters/", encounters_router)
api.add_router("/tasks/", tasks_router)
api.add_router("/clinical-docs/", documents_router)
api.add_router("/orders/", orders_router)
api.add_router("/lab/", lab_router)
api.add_router("/billing/", billing_router)
api.add_router("/alerts/", alerts_router)
api.add_router("/audit/", audit_router)
api.add_router("/webhooks/", webhooks_router)
api.add_router("/interop/", interop_router)
api.add_router("/imaging/", imaging_router)
api.add_router("/rules/", rules_router)
api.add_router("/schedules/", schedules_router)
api.add_router("/slots/", slots_router)
api.add_router("/appointments/", appointments_router)
api.add_router("/notifications/", notifications_router)
api.add_router("/reports/", reports_router)
# DICOMweb paths have no trailing slash (`/api/dicomweb/studies`), as its clients send them.
api.add_router("/dicomweb", dicomweb_router)
# FHIR paths likewise (`/api/fhir/Patient/<id>`); its errors are OperationOutcomes (_render).
api.add_router("/fhir", fhir_router)


def _render(
    request: HttpRequest, status: int, code: str, message: str, details: object = None
) -> HttpResponse:
    if is_fhir_path(request.path):
        return error_response(status, code, message, details)
    return api.create_response(request, error_body(code, message, details), status=status)


@api.exception_handler(HmError)
def on_hm_error(request: HttpRequest, exc: HmError) -> HttpResponse:
    response = _render(request, exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, TooManyRequests):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(IdempotentReplay)
def on_replay(request: HttpRequest, exc: IdempotentReplay) -> HttpResponse:
    return replay_response(exc.record)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [
        {"field": _field_name(e.get("loc", ())), "message": e.get("msg", "invalid")}
        for e in exc.errors
    ]
    return _render(request, 422, "validation_error", "The request is not valid.", details)


def _field_name(loc: tuple[object, ...] | list[object]) -> str:
    """`("body", "payload", "address", "city")` → `address.city`; query/path/header likewise."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in {"payload", "filters", "page", "params"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _render(
        request,
        401,
        "not_authenticated",
        "Authentication credentials were missing, invalid or expired.",
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, HmError):  # refused by the JsonParser: 415 or 422
        return on_hm_error(request, exc.__cause__)
    # json.loads raises RecursionError, not ValueError, on absurdly nested input.
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        return _render(request, 400, "malformed_json", "The request body is not valid JSON.")
    return _render(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(RequestDataTooBig)
def on_body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE: the client's fault."""
    return _render(request, 413, "payload_too_large", "The request body is too large.")


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _render(request, 404, "not_found", "Not found.")


@api.exception_handler(ObjectDoesNotExist)
def on_object_missing(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _render(request, 404, "not_found", "Not found.")


@api.exception_handler(IntegrityError)
def on_integrity_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A unique or foreign-key violation no service mapped to its own code: a concurrent writer
    won (the unit of work flushes a policy's rows at the end of the command, past the mapping
    of the service that queued them). The command rolled back whole; 409, never a 500."""
    logger.warning("unmapped integrity error on %s %s", request.method, request.path)
    return _render(
        request, 409, "conflict", "The request conflicts with data written meanwhile; retry."
    )


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return _render(request, 500, "internal_error", "An internal error occurred.")
