"""Searchset paging with opaque keyset cursors.

A cursor says where the next page starts: which source, the primary key of the row to resume
at and how many of that row's resources were already served. Rows are read in primary-key
order, which no write changes, so concurrent writes never make a page skip or repeat a
resource that existed when the search started (new rows show up, or not, by their key).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from hm_core.common.errors import BadRequest
from hm_core.fhir.registry import Source, Version

DEFAULT_COUNT, MAX_COUNT = 50, 200


@dataclass(frozen=True)
class Cursor:
    source: int = 0
    after: str | None = None  # primary key of the row to resume at (inclusive)
    skip: int = 0  # resources of that row already served

    def encode(self) -> str:
        raw = json.dumps([self.source, self.after, self.skip], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> Cursor:
        if not token:
            return cls()
        try:
            padded = token + "=" * (-len(token) % 4)
            source, after, skip = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not (isinstance(source, int) and isinstance(skip, int) and source >= 0):
                raise ValueError
            return cls(source=source, after=None if after is None else str(after), skip=skip)
        except (ValueError, TypeError, binascii.Error):
            raise BadRequest(
                "The paging cursor is not valid.", code="invalid_cursor", details=None
            ) from None


def page_count(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_COUNT
    try:
        count = int(value)
    except ValueError:
        raise BadRequest(
            "_count must be a whole number.",
            code="validation_error",
            details=[{"field": "_count", "message": "expected an integer"}],
        ) from None
    return max(0, min(count, MAX_COUNT))


def read_page(
    sources: list[Source], cursor: Cursor, count: int
) -> tuple[list[Version], Cursor | None]:
    """Up to `count` resources from `cursor` on, and the cursor of the next page (or None)."""
    served: list[Version] = []
    index, after, skip = cursor.source, cursor.after, cursor.skip
    while index < len(sources):
        source = sources[index]
        rows = source.rows if after is None else source.rows.filter(pk__gte=after)
        batch = list(rows.order_by("pk")[: count + 1])
        for row, versions in zip(batch, source.expand(batch), strict=True):
            done = skip if str(row.pk) == after else 0
            for used in range(done, len(versions)):
                if len(served) == count:
                    return served, Cursor(index, str(row.pk), used)
                served.append(versions[used])
            after, skip = str(row.pk), len(versions)
        if len(batch) <= count:
            index, after, skip = index + 1, None, 0
    return served, None


def total_of(
    sources: list[Source], cursor: Cursor, served: list[Version], nxt: Cursor | None
) -> int:
    """The searchset's `total`: a first page that holds every match is its own count (most
    searches about one patient), so only a longer result counts its rows (a COUNT per source)."""
    if cursor == Cursor() and nxt is None:
        return len(served)
    return sum(source.total(source.rows) for source in sources)


def encode_links(base: str, params: list[tuple[str, str]], nxt: Cursor | None) -> list[Any]:
    from urllib.parse import urlencode

    kept = [(k, v) for k, v in params if k != "_cursor"]
    links = [{"relation": "self", "url": f"{base}?{urlencode(kept)}" if kept else base}]
    if nxt is not None:
        links.append(
            {"relation": "next", "url": f"{base}?{urlencode([*kept, ('_cursor', nxt.encode())])}"}
        )
    return links
