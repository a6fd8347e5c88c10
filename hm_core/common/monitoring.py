"""Error monitoring: unhandled errors go to Sentry when `SENTRY_DSN` is set, with PHI scrubbed.

What leaves the building is what `before_send` keeps: the exception and its stack (no local
variables), the method and path (no query string: `?search=` carries patient names), a safe
list of headers, and the user as an id. Request bodies, cookies, query strings, breadcrumbs
(log lines and SQL) and extra data are dropped, whatever integration added them.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk

SAFE_HEADERS = frozenset(
    {
        "accept",
        "content-length",
        "content-type",
        "host",
        "user-agent",
        "x-facility-id",
        "x-request-id",
        "x-tenant-id",
    }
)
DROPPED_KEYS = ("breadcrumbs", "extra")
# A database error's DETAIL line quotes the row's values (e.g. a duplicate MRN).
DETAIL_MARKER = "DETAIL:"


def sentry_init(*, dsn: str, environment: str | None = None) -> None:
    """Report unhandled errors (logged at ERROR by the API's last-resort handler) to Sentry."""
    sentry_sdk.init(dsn=dsn, environment=environment, **sentry_options())


def sentry_options() -> dict[str, Any]:
    """No default PII, no local variables (they hold payloads), no bodies, no breadcrumbs."""
    return {
        "send_default_pii": False,
        "include_local_variables": False,
        "max_request_body_size": "never",
        "max_breadcrumbs": 0,
        "before_send": before_send,
    }


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Scrub an event before it is sent: keep what diagnoses a bug, drop what could be PHI."""
    for key in DROPPED_KEYS:
        event.pop(key, None)
    if "request" in event:
        event["request"] = _scrubbed_request(event["request"])
    if "user" in event:
        user_id = (event["user"] or {}).get("id")
        event["user"] = {"id": user_id} if user_id is not None else {}
    for exception in (event.get("exception") or {}).get("values") or []:
        value = exception.get("value")
        if isinstance(value, str) and DETAIL_MARKER in value:
            exception["value"] = value.split(DETAIL_MARKER)[0].rstrip()
    return event


def _scrubbed_request(request: dict[str, Any]) -> dict[str, Any]:
    """Method, path and safe headers only: no body, query string, cookies or client address."""
    headers = request.get("headers") or {}
    return {
        "method": request.get("method"),
        "url": str(request.get("url") or "").split("?")[0],
        "headers": {k: v for k, v in headers.items() if k.lower() in SAFE_HEADERS},
    }
