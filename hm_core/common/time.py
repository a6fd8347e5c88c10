"""Time helpers: the server stores and returns UTC, always timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def isoformat(value: datetime) -> str:
    """Canonical ISO 8601 in UTC with microseconds, e.g. `2026-01-02T03:04:05.000006Z`."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
