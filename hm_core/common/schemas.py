"""Schema building blocks shared by every module's In/Out schemas."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ninja import Schema
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

T = TypeVar("T")

# The largest integer PostgreSQL (bigint) and SQLite store: a query number beyond it would
# overflow in the database (a 500) instead of failing validation (a 422).
DB_INT_MAX = 2**63 - 1


def reject_nul(value: Any) -> Any:
    """Refuse NUL characters anywhere in a value: PostgreSQL can neither store nor compare them,
    so they would surface as a 500 instead of a 422 naming the field."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("may not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key)
            reject_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            reject_nul(item)
    return value


class TextSafeSchema(Schema):
    """Base of every client-supplied schema: text with NUL characters fails validation."""

    @field_validator("*", mode="before", check_fields=False)
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return reject_nul(value)


class InputSchema(TextSafeSchema):
    """Base of request bodies: unknown fields are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FilterSchema(TextSafeSchema):
    """Base of query-string parameters: a key the schema does not know is 422 (contract §11a).

    Ninja maps only the keys it knows into the schema, so the unknown ones are put back from the
    request's query string for `extra="forbid"` to name each of them. An endpoint takes at most
    one query schema, which therefore lists every key the endpoint accepts.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data: Any, info: ValidationInfo) -> Any:
        request = (info.context or {}).get("request")
        if request is None or not isinstance(data, dict):
            return data
        known = set(cls.model_fields) | {
            f.alias for f in cls.model_fields.values() if f.alias is not None
        }
        unknown = {key: request.GET[key] for key in request.GET if key not in known}
        return {**unknown, **data} if unknown else data


class ErrorDetail(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    """The contract's one error body."""

    error: ErrorDetail


class Page(Schema, Generic[T]):
    items: list[T]
    count: int


class PageParams(FilterSchema):
    """`?limit=&offset=`: limit defaults to 50 and may not exceed 200; the base of list filters."""

    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=DB_INT_MAX)
