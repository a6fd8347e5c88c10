"""Schema building blocks shared by every module's In/Out schemas."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

T = TypeVar("T")


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
    """Base of query-string filters (`<Entity>ListFilters`)."""


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
    """`?limit=&offset=`: limit defaults to 50 and may not exceed 200."""

    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)
