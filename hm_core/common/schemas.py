"""Schema building blocks shared by every module's In/Out schemas."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ninja import Schema
from pydantic import ConfigDict, Field

T = TypeVar("T")


class InputSchema(Schema):
    """Base of request bodies: unknown fields are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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


class PageParams(Schema):
    """`?limit=&offset=`: limit defaults to 50 and may not exceed 200."""

    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)
