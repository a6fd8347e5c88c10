"""Endpoint helpers shared by every module's `api.py`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from hm_core.common.schemas import ErrorOut
from hm_core.common.scope import Scope

# The error statuses a scoped endpoint may answer, each with the one error body.
ERRORS: dict[int | str, Any] = dict.fromkeys((400, 401, 403, 404, 409, 412, 422), ErrorOut)


def scope_of(request: HttpRequest) -> Scope:
    """The Scope that `ScopeAuth` resolved for this request."""
    scope = request.auth  # type: ignore[attr-defined]
    if not isinstance(scope, Scope):
        raise TypeError("endpoint is not behind ScopeAuth")
    return scope
