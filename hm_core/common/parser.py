"""The API's request-body parser: JSON only, and no deeper than the event store can encode."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from hm_core.common.errors import UnsupportedMediaType, ValidationFailed

# Clinical documents and results nest a few levels; the canonical event encoding (and
# PostgreSQL's jsonb) give up long before Python's recursion limit would.
MAX_JSON_DEPTH = 64


class JsonParser(Parser):
    """Parse a JSON body; a body of another media type is 415, one nested too deep is 422."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        if request.body and not is_json_media_type(request.content_type or ""):
            raise UnsupportedMediaType(details={"content_type": request.content_type or None})
        data = json.loads(request.body)
        if nesting_exceeds(data, MAX_JSON_DEPTH):
            raise ValidationFailed.field(
                "body", f"must not nest deeper than {MAX_JSON_DEPTH} levels"
            )
        return data  # type: ignore[no-any-return]


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or a structured `application/*+json` type."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def nesting_exceeds(value: object, limit: int) -> bool:
    """Whether objects and arrays in `value` nest more than `limit` levels (no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
