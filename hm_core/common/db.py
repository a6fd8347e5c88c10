"""Database helpers shared by modules: engine checks and constraint-violation matching."""

from __future__ import annotations

from django.db import IntegrityError, connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def violates(exc: IntegrityError, *, constraint: str, columns: tuple[str, ...]) -> bool:
    """True when `exc` is the unique violation of `constraint` on either engine.

    PostgreSQL names the constraint; SQLite names the columns (`table.col, table.col`).
    """
    text = str(exc)
    if constraint in text:
        return True
    return "UNIQUE constraint failed" in text and all(f".{col}" in text for col in columns)
