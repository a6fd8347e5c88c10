"""Request-wide middleware: request ids, and the contract's error body on every API error."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.common import CommonMiddleware
from django.utils.cache import add_never_cache_headers

from hm_core.common.errors import error_body

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")

# Responses Django or Ninja produce outside our exception handlers (unknown URL, wrong method).
_STATUS_CODES = {
    400: ("bad_request", "The request could not be processed."),
    401: ("not_authenticated", "Authentication credentials were missing, invalid or expired."),
    403: ("forbidden", "You may not do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed on this path."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("internal_error", "An internal error occurred."),
}


class RequestIdMiddleware:
    """Echo a sane `X-Request-ID` or generate one; events appended by the request store it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get("X-Request-ID", "")
        request_id = sent if _REQUEST_ID.match(sent) else str(uuid.uuid4())
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


# The interactive docs load only their own assets (served from /static/); Swagger UI sets inline
# styles and uses data: images. Nothing else may run in a page that holds a bearer token.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_DOCS_PATHS = ("/api/docs/", "/api/openapi.json", "/api/schema/")


class ApiHeadersMiddleware:
    """API answers carry PHI: never stored by browsers or proxies. The docs get a CSP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/"):
            return response
        if request.path.startswith(_DOCS_PATHS):
            response.setdefault("Content-Security-Policy", DOCS_CSP)
        else:
            add_never_cache_headers(response)
        return response


class ApiErrorBodyMiddleware:
    """Rewrite non-JSON 4xx/5xx answers under /api/ into the one error body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if _is_error_body(response):
            return response
        code, message = _STATUS_CODES.get(
            response.status_code, ("http_error", "The request failed.")
        )
        replacement = JsonResponse(error_body(code, message), status=response.status_code)
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):
            if header in response:
                replacement[header] = response[header]
        return replacement


def _is_error_body(response: HttpResponse) -> bool:
    if "json" not in response.get("Content-Type", "") or getattr(response, "streaming", False):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    # The FHIR API (§12) answers its errors with an OperationOutcome instead.
    return isinstance(body, dict) and (
        isinstance(body.get("error"), dict) or body.get("resourceType") == "OperationOutcome"
    )


class ApiCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, without APPEND_SLASH under /api/.

    Redirecting a POST to its slashed path raises RuntimeError under DEBUG (a 500) and drops the
    body otherwise; the contract's paths end with `/`, so a path without it is 404 `not_found`.
    """

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        if request.path_info.startswith("/api/"):
            return False
        return bool(super().should_redirect_with_slash(request))
