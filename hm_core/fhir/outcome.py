"""OperationOutcome: how the FHIR API reports errors and search warnings.

Every error on a `/api/fhir` path is rendered here instead of hm_core's own error body (the
exception handlers of `config/api.py` ask `is_fhir_path`), with the same status and the
hm_core error code kept in `details.coding` so that clients of both APIs can match on it.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse

FHIR_JSON = "application/fhir+json"
FHIR_BASE = "/api/fhir"
# The issue type (http://hl7.org/fhir/issue-type) a client expects for each status.
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}
HM_ERROR_SYSTEM = "urn:hm-core:error-code"


def is_fhir_path(path: str) -> bool:
    return path == FHIR_BASE or path.startswith(FHIR_BASE + "/")


def issue(
    *, severity: str, code: str, diagnostics: str, expression: list[str] | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        found["expression"] = expression
    return found


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_outcome(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The OperationOutcome of an error: one issue, the hm_core code as `details.coding`."""
    found = issue(
        severity="fatal" if status >= 500 else "error",
        code=_ISSUE_CODES.get(status, "exception"),
        diagnostics=message,
        expression=_fields(details),
    )
    found["details"] = {"coding": [{"system": HM_ERROR_SYSTEM, "code": code}], "text": message}
    return operation_outcome([found])


def _fields(details: Any) -> list[str] | None:
    if isinstance(details, list):
        names = [str(d["field"]) for d in details if isinstance(d, dict) and d.get("field")]
        return names or None
    return None


def fhir_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    response = HttpResponse(json.dumps(body), status=status, content_type=FHIR_JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(status: int, code: str, message: str, details: Any = None) -> HttpResponse:
    return fhir_response(error_outcome(status, code, message, details), status=status)
