"""FHIR search parameter values (https://hl7.org/fhir/R4/search.html) turned into ORM filters:
reference (`Patient/<id>` or `<id>`), token (`system|code`), date with its prefixes.

A comma means OR within one parameter; a repeated parameter means AND (each one filters).
A value that cannot match anything (an id that is not ours) matches nothing, as FHIR servers do.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q

from hm_core.common.errors import BadRequest

_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2})(T.+)?)?)?$")
NOTHING = Q(pk__in=[])


def or_values(value: str) -> list[str]:
    return [part for part in value.split(",") if part != ""]


def reference_ids(value: str, resource_type: str) -> list[uuid.UUID]:
    """`Patient/<id>`, `<base>/Patient/<id>` or `<id>` → ids; other types or non-UUIDs drop."""
    found = []
    for part in or_values(value):
        kind, _, rest = part.rpartition("/")
        if kind and not (kind == resource_type or kind.endswith("/" + resource_type)):
            continue
        try:
            found.append(uuid.UUID(rest))
        except ValueError:
            continue
    return found


def reference_q(field: str, value: str, resource_type: str) -> Q:
    ids = reference_ids(value, resource_type)
    return Q(**{f"{field}__in": ids}) if ids else NOTHING


def token(value: str) -> tuple[str | None, str]:
    """`system|code` → (system, code); `code` → (None, code); `|code` → ("", code)."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def token_codes(value: str, *, system: str | None) -> list[str]:
    """The codes of a token search that name `system` (or no system at all)."""
    codes = []
    for part in or_values(value):
        sys, code = token(part)
        if sys is None or sys == (system or ""):
            codes.append(code)
    return codes


def date_q(field: str, value: str, *, as_date: bool = False) -> Q:
    """`[prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]` on a datetime (or, `as_date`, a date) column."""
    match = _DATE.match(value)
    if match is None:
        raise BadRequest(
            f"Not a FHIR date search value: {value!r}.",
            code="invalid_search_parameter",
            details=[{"field": field, "message": "expected [prefix]YYYY[-MM[-DD[Thh:mm...]]]"}],
        )
    prefix = match.group(1) or "eq"
    start, end = _range(match)
    if as_date:
        bounds: tuple[date | datetime, date | datetime] = (start.date(), end.date())
        start, end = bounds  # type: ignore[assignment]
    if prefix in ("eq", "ap"):
        return Q(**{f"{field}__gte": start, f"{field}__lt": end})
    if prefix == "ne":
        return ~Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return {
        "gt": Q(**{f"{field}__gte": end}),
        "sa": Q(**{f"{field}__gte": end}),
        "ge": Q(**{f"{field}__gte": start}),
        "lt": Q(**{f"{field}__lt": start}),
        "eb": Q(**{f"{field}__lt": start}),
        "le": Q(**{f"{field}__lt": end}),
    }[prefix]


def _range(match: re.Match[str]) -> tuple[datetime, datetime]:
    """The instants `[start, end)` that a value of this precision covers (UTC when no zone)."""
    year, month, day, time = match.group(2, 3, 4, 5)
    if time:
        try:
            start = datetime.fromisoformat(f"{year}-{month}-{day}{time}".replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"Not a FHIR dateTime: {time!r}.") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        return start, start + timedelta(seconds=1)
    if day:
        first = datetime(int(year), int(month), int(day), tzinfo=UTC)
        return first, first + timedelta(days=1)
    if month:
        first = datetime(int(year), int(month), 1, tzinfo=UTC)
        following = date(int(year) + int(month) // 12, int(month) % 12 + 1, 1)
        return first, datetime(following.year, following.month, 1, tzinfo=UTC)
    return datetime(int(year), 1, 1, tzinfo=UTC), datetime(int(year) + 1, 1, 1, tzinfo=UTC)
