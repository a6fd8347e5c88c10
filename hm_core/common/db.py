"""Database helpers shared by modules: engine checks, constraint-violation matching, the
SQL functions Django lacks and querysets compiled once per process (`CompiledQuery`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import IntegrityError, connection, connections, router
from django.db.models import Field, Func, IntegerField, Model, QuerySet
from django.db.models.query import RawQuerySet


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


# A statement's parameters, each either a constant of the compiled SQL or the name of a value.
_Slot = tuple[str | None, Any]


class CompiledQuery:
    """A queryset compiled to SQL once per database alias, then run with new values.

    Why: compiling a queryset with joins and `FilteredRelation`s costs more CPU than running it
    (authentication on every request, issue 10). `build(**values)` makes the queryset of
    `model`; it is called once per alias with a random UUID stand-in for each named value, and
    the compiled statement's parameters that equal a stand-in (as the field prepares it for that
    database) are filled from the real value, prepared by the same field, on every later call.
    The SQL is therefore exactly the ORM's, for each engine, and runs through the same cursor
    (execute wrappers, row-level security) as the queryset would. Only UUID-valued parameters
    can be named, and a queryset whose SQL depends on the values (`None` becoming `IS NULL`, a
    list of varying length) must not be compiled this way.
    """

    def __init__(
        self, model: type[Model], build: Callable[..., QuerySet[Any]], **fields: Field[Any, Any]
    ) -> None:
        self.model = model
        self._build = build
        self._fields = fields
        self._compiled: dict[tuple[str, str], tuple[str, list[_Slot]]] = {}

    def raw(self, **values: Any) -> RawQuerySet[Any]:
        """The statement with these values, as `Model.objects.raw` (one statement per run)."""
        alias = router.db_for_read(self.model)
        conn = connections[alias]
        sql, slots = self._statement(alias, conn)
        prepared = {
            name: field.get_db_prep_value(values[name], conn)
            for name, field in self._fields.items()
        }
        params = [constant if name is None else prepared[name] for name, constant in slots]
        return self.model._default_manager.db_manager(alias).raw(sql, params)

    def _statement(self, alias: str, conn: Any) -> tuple[str, list[_Slot]]:
        key = (alias, conn.vendor)
        statement = self._compiled.get(key)
        if statement is None:
            statement = self._compiled[key] = self._compile(alias, conn)
        return statement

    def _compile(self, alias: str, conn: Any) -> tuple[str, list[_Slot]]:
        stand_ins = {name: uuid.uuid4() for name in self._fields}
        sql, params = self._build(**stand_ins).query.get_compiler(using=alias).as_sql()
        by_value = {
            field.get_db_prep_value(stand_ins[name], conn): name
            for name, field in self._fields.items()
        }
        slots: list[_Slot] = []
        for param in params:
            name = by_value.get(param) if isinstance(param, (str, uuid.UUID)) else None
            slots.append((name, None if name else param))
        missing = set(self._fields) - {name for name, _ in slots}
        inlined = [
            name for name, value in stand_ins.items() if value.hex in sql or str(value) in sql
        ]
        if missing or inlined:
            raise ValueError(f"values not passed as parameters: {sorted(missing | set(inlined))}")
        return sql, slots


def postgres_statements(forward: Sequence[str], reverse: Sequence[str]) -> Any:
    """A migration operation running `forward` (and `reverse` when unapplied) on PostgreSQL
    only: indexes and constraints SQLite has no syntax for (it keeps the plain ones)."""
    from django.db import migrations

    def run(statements: Sequence[str]) -> Callable[[Any, Any], None]:
        def apply(apps: Any, schema_editor: Any) -> None:
            if schema_editor.connection.vendor == "postgresql":
                for statement in statements:
                    schema_editor.execute(statement)

        return apply

    return migrations.RunPython(run(forward), run(reverse))
