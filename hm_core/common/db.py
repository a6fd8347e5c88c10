"""Database helpers shared by modules: engine checks, constraint-violation matching and the
SQL functions Django lacks."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connection
from django.db.models import Func, IntegerField


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


class JSONArrayLength(Func):
    """Elements in a JSON array column, counted by the database (`jsonb_array_length` on
    PostgreSQL, `json_array_length` on SQLite): a sum over many rows without loading them."""

    function = "jsonb_array_length"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="json_array_length", **extra)
