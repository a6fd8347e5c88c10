"""The OpenAPI document declares the headers scoped operations take (contract §1, §11a).

Ninja documents path, query and body parameters and the bearer scheme; the scope headers,
`Idempotency-Key` and `If-Match` are read by `ScopeAuth` and the endpoints from the request, so
they are added here, once, from what each operation really does.
"""

from __future__ import annotations

import copy
from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from hm_core.iam.auth import ScopeAuth


def _header(name: str, *, required: bool, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "in": "header",
        "name": name,
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


SCOPE_HEADERS = [
    _header("X-Tenant-ID", required=True, description="Tenant of the request.", format="uuid"),
    _header("X-Facility-ID", required=True, description="Facility within it.", format="uuid"),
]
IDEMPOTENCY_KEY = _header(
    "Idempotency-Key",
    required=False,
    description="Replays the first response of a retried POST (1-255 printable ASCII).",
    minLength=1,
    maxLength=255,
)
IF_MATCH = _header(
    "If-Match",
    required=False,
    description='The version the write expects, as `"<version>"`; otherwise 412.',
)


def _is_scoped(operation: Operation) -> bool:
    return any(isinstance(auth, ScopeAuth) for auth in operation.auth_callbacks)


def _takes_if_match(operation: Operation) -> bool:
    # The endpoints read If-Match through `hm_core.common.http.if_match(request)`: the view's
    # code naming it is exactly the set of writes that accept the header, and cannot drift.
    return "if_match" in operation.view_func.__code__.co_names


class HmOpenAPISchema(OpenAPISchema):
    def operation_parameters(self, operation: Operation) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = list(super().operation_parameters(operation))
        if _is_scoped(operation):
            parameters += SCOPE_HEADERS
            if "POST" in operation.methods:
                parameters.append(IDEMPOTENCY_KEY)
        if _takes_if_match(operation):
            parameters.append(IF_MATCH)
        return copy.deepcopy(parameters)


class HmNinjaAPI(NinjaAPI):
    """The NinjaAPI whose OpenAPI document carries the headers above."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        return HmOpenAPISchema(self, path_prefix)
