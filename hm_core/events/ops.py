"""The writes a unit of work queues: rows for one table (one multi-row INSERT) or a statement.

On PostgreSQL consecutive writes to different tables are sent as one statement, each but the
last a data-modifying CTE (`WITH w0 AS (INSERT ...), w1 AS (UPDATE ...) INSERT ...`): the
sub-statements run on one snapshot, so a write joins a group only when it neither writes nor
names a table the group already writes (then it would see the group's rows in sequence but
not in the statement); a write whose row count is wanted ends its group, as its main statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from django.db import connection, models, transaction
from django.db.models.constants import OnConflict
from django.db.models.lookups import Exact
from django.db.models.sql.where import AND

from hm_core.common.db import Sql, insert_statements, update_statement

# Parameters per grouped statement (PostgreSQL's protocol allows 65535).
MAX_GROUP_PARAMS = 20000
_UNCOMPILED = object()
_CONFLICT = {"ignore": OnConflict.IGNORE, "update": OnConflict.UPDATE}
# Whether no row of the model with this primary key existed before the writes being compacted.
Fresh = Callable[[type[models.Model], Any], bool]


class Op(Protocol):
    table: str

    def merge(self, other: Op) -> bool: ...

    def run(self) -> None: ...


def _attname(model: type[models.Model], name: str) -> str:
    return str(getattr(model._meta.get_field(name), "attname", name))


def sql_of(op: Op) -> Sql | None:
    """The op as one statement, if it can be sent inside a group."""
    compile_ = getattr(op, "sql", None)
    return compile_() if compile_ is not None else None


@dataclass
class Rows:
    """Rows of one model inserted together; `conflict` says what a duplicate key does."""

    model: type[models.Model]
    objs: list[models.Model]
    conflict: Literal["ignore", "update", "none"]
    keys: tuple[str, ...] = ()
    updates: tuple[str, ...] = ()
    table: str = field(init=False)

    def __post_init__(self) -> None:
        self.table = self.model._meta.db_table

    def merge(self, other: Op) -> bool:
        if not isinstance(other, Rows) or (other.model, other.conflict, other.keys) != (
            self.model,
            self.conflict,
            self.keys,
        ):
            return False
        if other.updates != self.updates:
            return False
        if self.conflict == "update" and self._keys_of(other) & self._keys_of(self):
            return False  # one statement may not touch a row twice (ON CONFLICT ... UPDATE)
        self.objs.extend(other.objs)
        return True

    def absorb(self, other: Op, fresh: Fresh | None = None) -> bool:
        """Fold a later write of some of these rows into them while unsent: an update of one
        row by its primary key, or an upsert of rows with the same keys (the rows then go
        out as they end up, in one statement instead of one per change). False when the
        result could differ: a conflict that would keep an existing row, a value computed
        by the database, a field the upsert would not write on a conflict (unless `fresh`
        says no row with that key can exist yet: the INSERT then has no conflict)."""
        if any(getattr(f, "auto_now", False) for f in self.model._meta.concrete_fields):
            return False  # the INSERT would stamp its own time over the update's
        if isinstance(other, Update):
            return self._absorb_update(other, fresh)
        if isinstance(other, Rows):
            return self._absorb_rows(other)
        return False

    def _writable(self, fresh: bool) -> set[str] | None:
        """The columns the row gets from these rows (None: every column)."""
        if self.conflict == "none" or fresh:
            return None
        if self.conflict != "update":
            return set()
        pk = self.model._meta.pk.attname  # type: ignore[union-attr]
        return {_attname(self.model, name) for name in (*self.updates, *self.keys)} | {pk}

    def _absorb_update(self, update: Update, fresh: Fresh | None) -> bool:
        key, pk = update.key(), self.model._meta.pk.attname  # type: ignore[union-attr]
        if update.rows is not None or update.queryset.model is not self.model:
            return False
        if key is None or pk not in key:
            return False
        if any(hasattr(value, "resolve_expression") for value in update.fields.values()):
            return False
        fields = {_attname(self.model, name): value for name, value in update.fields.items()}
        writable = self._writable(fresh is not None and fresh(self.model, key[pk]))
        if writable is not None and not set(fields) | set(key) <= writable:
            return False
        # Several objects with one key only where duplicates are skipped: each becomes the row.
        found = [obj for obj in self.objs if getattr(obj, pk) == key[pk]]
        if not found or any(getattr(obj, k) != v for obj in found for k, v in key.items()):
            return False
        for obj in found:
            for attname, value in fields.items():
                setattr(obj, attname, value)
        return True

    def _absorb_rows(self, other: Rows) -> bool:
        if (other.model, other.conflict, other.keys, other.updates) != (
            self.model,
            "update",
            self.keys,
            self.updates,
        ) or self.conflict != "update":
            return False
        mine = {tuple(getattr(obj, key) for key in self.keys): obj for obj in self.objs}
        theirs = [(tuple(getattr(obj, key) for key in self.keys), obj) for obj in other.objs]
        if len(mine) != len(self.objs) or not all(key in mine for key, _ in theirs):
            return False
        for key, obj in theirs:
            for name in self.updates:
                attname = _attname(self.model, name)
                setattr(mine[key], attname, getattr(obj, attname))
        return True

    def _keys_of(self, op: Rows) -> set[tuple[Any, ...]]:
        return {tuple(getattr(obj, key) for key in op.keys) for obj in op.objs}

    def sql(self) -> Sql | None:
        """The rows as the one INSERT `bulk_create` would send (None: several, or pks or
        other values the database computes that it would read back with `RETURNING`, or no
        rows at all: `VALUES` needs one; `run` sends nothing)."""
        meta = self.model._meta
        if not self.objs or any(f is not meta.pk for f in meta.db_returning_fields):
            return None
        self.model._base_manager.all()._prepare_for_bulk_create(self.objs)  # type: ignore[attr-defined]
        if any(obj.pk is None for obj in self.objs):
            return None
        fields = [f for f in self.model._meta.concrete_fields if not f.generated]
        if len(self.objs) > max(connection.ops.bulk_batch_size(fields, self.objs), 1):
            return None
        get = self.model._meta.get_field
        statements = insert_statements(
            self.model,
            self.objs,
            fields=fields,
            on_conflict=_CONFLICT.get(self.conflict),
            update_fields=[get(name) for name in self.updates],
            unique_fields=[get(name) for name in self.keys],
        )
        return statements[0] if len(statements) == 1 else None

    def ran(self) -> None:
        for obj in self.objs:
            obj._state.adding, obj._state.db = False, connection.alias

    def run(self) -> None:
        """`bulk_create`'s one statement, or `bulk_create` itself where `sql` has none."""
        statement = self.sql()
        if statement is not None:
            execute(self, statement)
            return
        manager = self.model._base_manager
        if self.conflict == "update":
            manager.bulk_create(
                self.objs,
                update_conflicts=True,
                unique_fields=list(self.keys),
                update_fields=list(self.updates),
            )
        else:
            manager.bulk_create(self.objs, ignore_conflicts=self.conflict == "ignore")


@dataclass
class Statement:
    """Any other write (a queryset update), run in its place in the queue."""

    table: str
    call: Callable[[], Any]

    def merge(self, other: Op) -> bool:
        return False

    def run(self) -> None:
        self.call()


@dataclass
class Update:
    """`queryset.update(**fields)`, which can also be compiled to join a group; `rows` gets
    the number of rows it changed."""

    queryset: models.QuerySet[Any]
    fields: dict[str, Any]
    rows: Callable[[int], None] | None = None
    table: str = field(init=False)
    _sql: object = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.table = self.queryset.model._meta.db_table
        self._sql = _UNCOMPILED

    def merge(self, other: Op) -> bool:
        return False

    def run(self) -> None:
        statement = self.sql()
        if statement is not None:
            execute(self, statement)
            return
        changed = self.queryset.update(**self.fields)
        if self.rows is not None:
            self.rows(changed)

    def sql(self) -> Sql | None:
        if self._sql is _UNCOMPILED:
            self._sql = update_statement(self.queryset, self.fields)
        return self._sql  # type: ignore[return-value]

    def key(self) -> dict[str, Any] | None:
        """The row it targets as {attname: value} when filtered by equalities only (AND)."""
        where = self.queryset.query.where
        if where.connector != AND or where.negated:
            return None
        key = {}
        for lookup in where.children:
            target = getattr(getattr(lookup, "lhs", None), "target", None)
            if not isinstance(lookup, Exact) or target is None:
                return None
            if hasattr(lookup.rhs, "resolve_expression"):
                return None
            key[target.attname] = lookup.rhs
        return key


@dataclass
class Compiled:
    """A write whose statement its caller compiled (once per shape: `common.db.CompiledQuery`);
    `rows` gets the number of rows it changed."""

    table: str
    statement: Sql
    rows: Callable[[int], None] | None = None

    def merge(self, other: Op) -> bool:
        return False

    def sql(self) -> Sql:
        return self.statement

    def run(self) -> None:
        execute(self, self.statement)


def execute(op: Op, statement: Sql) -> None:
    """Send one op's statement; an error marks the transaction for rollback, as the ORM's
    `bulk_create` and `update` do (a caller catching it cannot go on in a broken one)."""
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(*statement)
        changed = cursor.rowcount
    done = getattr(op, "ran", None)
    if done is not None:
        done()
    rows = getattr(op, "rows", None)
    if rows is not None:
        rows(changed)


def run_grouped(ops: list[Op]) -> None:
    """Run `ops` in order; on PostgreSQL, groups of them as one statement each."""
    if connection.vendor != "postgresql":
        for op in ops:
            op.run()
        return
    group: list[tuple[Op, Sql]] = []
    for op in ops:
        sql = sql_of(op)
        if group and (sql is None or not _joins(group, op, sql)):
            _run_group(group)
            group = []
        if sql is None:
            op.run()
        else:
            group.append((op, sql))
    _run_group(group)


def _counted(op: Op) -> bool:
    return getattr(op, "rows", None) is not None


def _joins(group: list[tuple[Op, Sql]], op: Op, sql: Sql) -> bool:
    """Whether `op` may run on the group's snapshot (order within one statement does not
    matter then: no member writes what another writes or names)."""
    written = {member.table for member, _ in group}
    params = sum(len(member_sql[1]) for _, member_sql in group) + len(sql[1])
    return (
        op.table not in written
        and not any(f'"{table}"' in sql[0] for table in written)
        and not any(f'"{op.table}"' in member_sql[0] for _, member_sql in group)
        and not (_counted(op) and any(_counted(member) for member, _ in group))
        and params <= MAX_GROUP_PARAMS
    )


def _run_group(group: list[tuple[Op, Sql]]) -> None:
    """One statement: the member whose row count is wanted (else the last) is the main one."""
    if len(group) == 1:
        execute(*group[0])
        return
    if not group:
        return
    main = next((i for i, (op, _) in enumerate(group) if _counted(op)), len(group) - 1)
    ordered = [*group[:main], *group[main + 1 :], group[main]]
    ctes = ", ".join(f"hm_w{i} AS ({sql})" for i, (_, (sql, _)) in enumerate(ordered[:-1]))
    params = [param for _, (_, member_params) in ordered for param in member_params]
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} {ordered[-1][1][0]}", params)
        changed = cursor.rowcount
    for op, _ in ordered:
        done = getattr(op, "ran", None)
        if done is not None:
            done()
    rows = getattr(ordered[-1][0], "rows", None)
    if rows is not None:
        rows(changed)


def compact(ops: list[Op], fresh: Fresh | None = None) -> list[Op]:
    """Merge each write into the last earlier write of its table when they are compatible.

    Only rows move, and only to an earlier INSERT of their own table with nothing on that
    table in between; other tables' order does not matter (foreign keys are deferred). A later
    change of rows still queued (an encounter checked in and closed in the same Bundle) is
    folded into them (`Rows.absorb`) when no write in between reads their table."""
    merged: list[Op] = []
    last: dict[str, int] = {}
    for op in ops:
        at = last.get(op.table)
        if at is not None:
            before = merged[at]
            if before.merge(op):
                continue
            if (
                isinstance(before, Rows)
                and not any(_reads(between, op.table) for between in merged[at + 1 :])
                and before.absorb(op, fresh)
            ):
                continue
        merged.append(op)
        last[op.table] = len(merged) - 1
    return merged


def _reads(op: Op, table: str) -> bool:
    """Whether a write may read `table` (the rows it adds name only their own table)."""
    if isinstance(op, Statement):
        return True
    if not isinstance(op, (Update, Compiled)):
        return False
    sql = op.sql()
    return sql is None or f'"{table}"' in sql[0]


def run_all(ops: Iterable[Op]) -> None:
    for op in ops:
        op.run()


def insert_ignoring_conflicts(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """Insert `objs` skipping duplicate keys; how many rows were really inserted."""
    fields = model._meta.concrete_fields
    size = connection.ops.bulk_batch_size(list(fields), objs) or len(objs)
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            for statement in insert_statements(
                model, batch, fields=fields, on_conflict=OnConflict.IGNORE
            ):
                cursor.execute(*statement)
                inserted += cursor.rowcount
    return inserted
