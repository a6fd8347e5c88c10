"""The error hierarchy every module raises and the one body every response renders.

`HmError(code, message, details)` carries the contract's error code; the API's exception
handler turns it into `{"error": {"code", "message", "details"}}` with `status`.
Modules subclass these in their own `errors.py` to name their codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HmError(Exception):
    """A failure the client can act on; `status` is the HTTP status it maps to."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, details: Any = None
    ) -> None:
        self.code = code or self.default_code
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The contract's one error shape."""
    return {"error": {"code": code, "message": message, "details": details}}


class BadRequest(HmError):
    status = 400


class ScopeRequired(HmError):
    status = 400
    default_code = "scope_required"
    default_message = "X-Tenant-ID and X-Facility-ID headers are required and must be UUIDs."


class NotAuthenticated(HmError):
    status = 401
    default_code = "not_authenticated"
    default_message = "Authentication credentials were missing, invalid or expired."


class Forbidden(HmError):
    status = 403
    default_code = "forbidden"
    default_message = "You may not do this."


class ScopeForbidden(Forbidden):
    default_code = "scope_forbidden"
    default_message = "You have no active membership in this facility of this tenant."


class PermissionDenied(Forbidden):
    default_code = "permission_denied"
    default_message = "Your roles do not grant the permission this action needs."


class NotFound(HmError):
    status = 404
    default_code = "not_found"
    default_message = "Not found."


class Conflict(HmError):
    status = 409
    default_code = "conflict"
    default_message = "The request conflicts with the current state."


class VersionConflict(Conflict):
    default_code = "version_conflict"
    default_message = "Another change was applied first; reload and try again."


class InvalidTransition(Conflict):
    default_code = "invalid_transition"
    default_message = "This action is not allowed in the current state."


class PreconditionFailed(HmError):
    status = 412
    default_code = "version_mismatch"
    default_message = "If-Match does not match the current version."


class UnsupportedMediaType(HmError):
    status = 415
    default_code = "unsupported_media_type"
    default_message = "The request body must be JSON (Content-Type: application/json)."


class ValidationFailed(HmError):
    status = 422
    default_code = "validation_error"
    default_message = "The request is not valid."

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        """A validation failure of one named field, in the contract's details shape."""
        return cls(message, details=[{"field": field, "message": message}])


class TooManyRequests(HmError):
    """429 with `Retry-After`: the client must wait `retry_after` seconds."""

    status = 429
    default_code = "rate_limited"
    default_message = "Too many requests; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code, details={"retry_after": retry_after})
        self.retry_after = retry_after
