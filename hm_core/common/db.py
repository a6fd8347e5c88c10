"""Database helpers shared by modules: engine checks, constraint-violation matching, the
SQL functions Django lacks, and statements compiled once per process: querysets
(`CompiledQuery`) and the INSERT and UPDATE shapes of the unit of work (`insert_statements`,
`update_statement`)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import IntegrityError, connection, connections, router
from django.db.models import DateTimeField, Field, Func, IntegerField, Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.expressions import Col
from django.db.models.fields.related_lookups import RelatedExact
from django.db.models.lookups import Exact
from django.db.models.query import RawQuerySet
from django.db.models.sql import InsertQuery, Query, UpdateQuery
from django.db.models.sql.where import AND

Sql = tuple[str, tuple[Any, ...]]


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


class Shapes:
    """SQL text kept per statement shape, compiled by Django the first time the shape is seen.

    Why: compiling the same few statements afresh for every command was 11-15 % of a command's
    CPU (issue 10). A key always holds the database alias and engine. `compilations` counts the
    compilations of every cache, so a test can assert that a second call compiled nothing."""

    compilations = 0

    def __init__(self) -> None:
        self._texts: dict[Hashable, Any] = {}

    def get(self, key: Hashable) -> Any:
        return self._texts.get(key)

    def put(self, key: Hashable, value: Any) -> Any:
        Shapes.compilations += 1
        self._texts[key] = value
        return value


# A statement's parameters, each either a constant of the compiled SQL or the name of a value.
_Slot = tuple[str | None, Any]
_NAMEABLE = (str, uuid.UUID, int, datetime)
_STAND_IN_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)


class CompiledQuery:
    """A queryset (or an UPDATE, see `update_sql`) compiled to SQL once per database alias,
    then run with new values.

    Why: compiling a queryset with joins and `FilteredRelation`s costs more CPU than running it
    (authentication on every request, issue 10). `build(**values)` makes the queryset of
    `model`; it is called once per alias with a random stand-in for each named value (a UUID,
    an integer or a datetime, by its field), and the compiled statement's parameters that equal
    a stand-in (as the field prepares it for that database) are filled from the real value,
    prepared by the same field, on every later call. The SQL is therefore exactly the ORM's,
    for each engine, and runs through the same cursor (execute wrappers, row-level security) as
    the queryset would. A queryset whose SQL depends on the values (`None` becoming `IS NULL`,
    a list of varying length) must not be compiled this way.
    """

    def __init__(
        self,
        model: type[Model],
        build: Callable[..., QuerySet[Any] | Sql],
        **fields: Field[Any, Any],
    ) -> None:
        self.model = model
        self._build = build
        self._fields = fields
        self._compiled = Shapes()
        self._readers: dict[tuple[str, tuple[str, ...]], _Reader] = {}

    def raw(self, **values: Any) -> RawQuerySet[Any]:
        """The statement with these values, as `Model.objects.raw` (one statement per run)."""
        alias = router.db_for_read(self.model)
        sql, params = self._bound(alias, values)
        return self.model._default_manager.db_manager(alias).raw(sql, params)

    def rows(self, **values: Any) -> tuple[str, list[str], list[tuple[Any, ...]]]:
        """The statement's rows as tuples, with the database alias and the column names: no
        model instance per row (`instance` makes one of a row, as `raw` would)."""
        alias = router.db_for_read(self.model)
        sql, params = self._bound(alias, values)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            return alias, [column[0] for column in cursor.description], cursor.fetchall()

    def instance(self, alias: str, columns: list[str], row: tuple[Any, ...]) -> Any:
        """The model instance `raw` would build of this row of `rows`: the model's columns by
        name, converted by their fields' and the engine's converters (`RawModelIterable`)."""
        key = (alias, tuple(columns))
        found = self._readers.get(key)
        if found is None:
            found = self._readers[key] = _Reader(self.model, alias, columns)
        return found.instance(row)

    def statement(self, **values: Any) -> Sql:
        """The statement with these values (for a write: run it on the write database)."""
        return self._bound(router.db_for_write(self.model), values)

    def _bound(self, alias: str, values: dict[str, Any]) -> Sql:
        conn = connections[alias]
        key = (alias, conn.vendor)
        sql, slots = self._compiled.get(key) or self._compiled.put(key, self._compile(alias, conn))
        prepared = {
            name: field.get_db_prep_value(values[name], conn)
            for name, field in self._fields.items()
        }
        return sql, tuple(constant if name is None else prepared[name] for name, constant in slots)

    def _compile(self, alias: str, conn: Any) -> tuple[str, list[_Slot]]:
        stand_ins = {name: _stand_in(field) for name, field in self._fields.items()}
        built = self._build(**stand_ins)
        if isinstance(built, tuple):
            sql, params = built
        else:
            sql, params = built.query.get_compiler(using=alias).as_sql()
        by_value = {
            field.get_db_prep_value(stand_ins[name], conn): name
            for name, field in self._fields.items()
        }
        slots: list[_Slot] = []
        for param in params:
            name = by_value.get(param) if _nameable(param) else None
            slots.append((name, None if name else param))
        missing = set(self._fields) - {name for name, _ in slots}
        inlined = [name for name, value in stand_ins.items() if _spelled(value, sql)]
        if missing or inlined:
            raise ValueError(f"values not passed as parameters: {sorted(missing | set(inlined))}")
        return sql, slots


class _Reader:
    """How `RawQuerySet` turns a row with these columns into a model instance, worked out once."""

    def __init__(self, model: type[Model], alias: str, columns: list[str]) -> None:
        conn = connections[alias]
        named = conn.introspection.identifier_converter
        fields = [f for f in model._meta.fields if named(str(f.column)) in columns]
        self.model, self.alias = model, alias
        self.names = [f.attname for f in fields]
        self.positions = [columns.index(named(str(f.column))) for f in fields]
        self.compiler = conn.ops.compiler("SQLCompiler")(Query(model), conn, alias)
        self.converters = self.compiler.get_converters(
            [f.get_col(f.model._meta.db_table) for f in fields]
        )

    def instance(self, row: tuple[Any, ...]) -> Any:
        values = [row[at] for at in self.positions]
        if self.converters:
            values = next(self.compiler.apply_converters([values], self.converters))
        return self.model.from_db(self.alias, self.names, values)


def _nameable(param: Any) -> bool:
    """A parameter that may be a stand-in (an adapter's int subclass included: psycopg's
    `Int8`); never a boolean, which equals 0 or 1."""
    return isinstance(param, _NAMEABLE) and not isinstance(param, bool)


def _stand_in(field: Field[Any, Any]) -> Any:
    """A random value of the field's type that no constant of a statement will equal."""
    target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
    if isinstance(target, IntegerField):
        return random.randrange(2**40, 2**50)  # noqa: S311 (a marker, not a secret)
    if isinstance(target, DateTimeField):
        return _STAND_IN_EPOCH + timedelta(microseconds=random.randrange(2**50))  # noqa: S311
    return uuid.uuid4()


def _spelled(value: Any, sql: str) -> bool:
    """Whether a stand-in was formatted into the SQL text instead of passed as a parameter."""
    return str(value) in sql or (isinstance(value, uuid.UUID) and value.hex in sql)


def insert_statements(
    model: type[Model],
    objs: Sequence[Model],
    *,
    fields: Sequence[Field[Any, Any]],
    on_conflict: OnConflict | None = None,
    update_fields: Sequence[Any] = (),
    unique_fields: Sequence[Any] = (),
) -> list[Sql]:
    """The statements Django's `InsertQuery` compiles for `objs` on the default database, the
    SQL text of a single one compiled once per shape (table, columns, conflict clause, engine,
    row count: on PostgreSQL a multi-row INSERT is one `UNNEST` of one array per column, the
    same text for any count). Each call prepares the values as the compiler does, by
    `pre_save` and `get_db_prep_save` per field and row. Rows holding an expression, and
    fields that make their own placeholder, are compiled by Django every time."""
    shape = (
        connection.alias,
        connection.vendor,
        model,
        tuple(fields),
        on_conflict,
        tuple(update_fields),
        tuple(unique_fields),
    )
    kept = _INSERTS.get((shape, len(objs)))
    if kept is None and len(objs) > 1:
        kept = _INSERTS.get((shape, "columns"))
    if isinstance(kept, _Insert):
        bound = _insert_params(fields, objs, columns=kept.columns)
        if bound is not None:
            return [(kept.sql, bound)]
    statements = _compile_insert(model, objs, fields, on_conflict, update_fields, unique_fields)
    if kept is None and len(statements) == 1:
        _keep_insert(shape, fields, objs, statements[0])
    return statements


@dataclass(frozen=True)
class _Insert:
    """An INSERT's text, and whether it takes one array per column (`UNNEST`) or each value."""

    sql: str
    columns: bool


_INSERTS = Shapes()
_UPDATES = Shapes()
_UNCACHEABLE = object()  # a shape whose text Django compiles every time


def _compile_insert(
    model: type[Model],
    objs: Sequence[Model],
    fields: Sequence[Field[Any, Any]],
    on_conflict: OnConflict | None,
    update_fields: Sequence[Any],
    unique_fields: Sequence[Any],
) -> list[Sql]:
    query = InsertQuery(
        model,
        on_conflict=on_conflict,
        update_fields=list(update_fields) or None,
        unique_fields=list(unique_fields) or None,
    )
    query.insert_values(list(fields), list(objs))
    compiler = query.get_compiler(connection=connection)
    return [(sql, tuple(params)) for sql, params in compiler.as_sql()]


def _keep_insert(
    shape: tuple[Any, ...], fields: Sequence[Field[Any, Any]], objs: Sequence[Model], done: Sql
) -> None:
    """Keep the text Django just compiled if the values' own preparation gives its parameters
    (read back from the rows, where `pre_save` left them), else mark the shape uncacheable.
    Django's parameters say the layout: one per column (`UNNEST`) or one per value."""
    rows = len(objs)
    columns = rows > 1 and len(done[1]) == len(fields)
    if any(hasattr(f, "get_placeholder") for f in fields):
        _INSERTS.put((shape, rows), _UNCACHEABLE)
        return
    mine = _insert_params(fields, objs, columns=columns, saved=True)
    if mine is None:  # an expression among the values: this call's text is not the shape's
        return
    if not _same(mine, done[1]):
        _INSERTS.put((shape, rows), _UNCACHEABLE)
        return
    _INSERTS.put((shape, "columns" if columns else rows), _Insert(done[0], columns))


def _insert_params(
    fields: Sequence[Field[Any, Any]], objs: Sequence[Model], *, columns: bool, saved: bool = False
) -> tuple[Any, ...] | None:
    """Each row's values prepared as `SQLInsertCompiler` prepares them (None: an expression),
    row after row, or one list per column for `UNNEST`."""
    rows = []
    for obj in objs:
        values = [getattr(obj, f.attname) if saved else f.pre_save(obj, True) for f in fields]
        if any(hasattr(value, "resolve_expression") for value in values):
            return None
        prepared = zip(fields, values, strict=True)
        rows.append([field.get_db_prep_save(value, connection) for field, value in prepared])
    if columns:
        return tuple(list(column) for column in zip(*rows, strict=True))
    return tuple(value for row in rows for value in row)


def update_statement(queryset: QuerySet[Any], values: dict[str, Any]) -> Sql | None:
    """`queryset.update(**values)` as the one statement Django compiles for it on the default
    database (None: it needs several, or none), the SQL text compiled once per shape when the
    queryset is one table filtered by equalities (its manager's scope, an id): the columns set,
    which of them are NULL, and the columns compared. The values are prepared per call as the
    compiler prepares them (`get_db_prep_save`; each lookup's `get_db_prep_lookup`)."""
    query = queryset.query
    lookups = _equalities(query)
    if lookups is None:
        return update_sql(queryset, values)
    meta = query.model._meta  # type: ignore[union-attr]
    sets: list[tuple[Any, Any]] = [(meta.get_field(name), v) for name, v in values.items()]
    if any(_computed(value) for value in values.values()):
        return update_sql(queryset, values)
    prepared = [field.get_db_prep_save(value, connection) for field, value in sets]
    shape = (
        connection.alias,
        connection.vendor,
        query.model,
        tuple((type(lookup), lookup.lhs.alias, lookup.lhs.target) for lookup in lookups),
        tuple((field, value is None) for (field, _), value in zip(sets, prepared, strict=True)),
    )
    params = (
        *(value for value in prepared if value is not None),
        *(p for lookup in lookups for p in lookup.get_db_prep_lookup(lookup.rhs, connection)[1]),
    )
    kept = _UPDATES.get(shape)
    if isinstance(kept, str):
        return kept, params
    done = update_sql(queryset, values)
    if kept is None and done is not None:
        _UPDATES.put(shape, done[0] if _same(params, done[1]) else _UNCACHEABLE)
    return done


def _computed(value: Any) -> bool:
    """An expression, or a model instance standing for its key: compiled by Django each time."""
    return hasattr(value, "resolve_expression") or hasattr(value, "prepare_database_save")


def _equalities(query: Any) -> list[Exact] | None:
    """The lookups of a one-table query filtered only by `column = value` (AND), if it is one.
    A boolean compared to a constant is left out: some engines compile it to the bare column."""
    where = query.where
    if query.is_sliced or query.combinator or len(query.alias_map) > 1:
        return None
    if where.connector != AND or where.negated:
        return None
    lookups = []
    for lookup in where.children:
        if type(lookup) not in (Exact, RelatedExact) or type(lookup.lhs) is not Col:
            return None
        rhs = lookup.rhs
        if rhs is None or isinstance(rhs, bool) or hasattr(rhs, "resolve_expression"):
            return None
        lookups.append(lookup)
    return lookups


def update_sql(queryset: QuerySet[Any], values: dict[str, Any]) -> Sql | None:
    """`queryset.update(**values)` compiled by Django (None: several statements, or none)."""
    query: UpdateQuery = queryset.query.chain(UpdateQuery)  # type: ignore[assignment]
    query.add_update_values(values)
    query.annotations = {}
    compiler = query.get_compiler(connection=connection)
    compiler.pre_sql_setup()
    if query.get_related_updates():
        return None
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # matches no row: `queryset.update` sends nothing
        return None
    return (sql, tuple(params)) if sql else None


def _same(mine: Any, theirs: Any) -> bool:
    """Whether two parameter lists are equal, adapter wrappers (psycopg's `Jsonb`) by what they
    wrap: the check that a shape's values are prepared as Django prepared them."""
    if isinstance(mine, (list, tuple)):
        return (
            type(mine) is type(theirs)
            and len(mine) == len(theirs)
            and all(_same(a, b) for a, b in zip(mine, theirs, strict=True))
        )
    if type(mine) is not type(theirs):
        return False
    if hasattr(mine, "obj") and hasattr(mine, "dumps"):
        return bool(mine.obj == theirs.obj and mine.dumps == theirs.dumps)
    return bool(mine == theirs)


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
