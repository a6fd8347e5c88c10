"""A unit of work per command: its writes are collected in memory and flushed in a few trips.

The outermost `run_command` or `publish` opens one. Projections, timeline, tasks and audit hand
their rows to `upsert`, `insert` and `update` (outside a unit of work these run at once, e.g. on
replay); the store queues the command's events and keeps the tenant's head in memory, locked
once and written once. Rows for one table become one multi-row `INSERT ... ON CONFLICT`.

Reads always see the command's own writes: while a unit of work is open, every other statement
on the connection first flushes what is pending (an execute wrapper), so an ORM query written
without knowing any of this — a policy loading an aggregate, `return order_get(...)` — reads
the flushed rows. Savepoints opened inside the unit of work (nested `atomic` blocks of services
and policies) are only sent to the database when a write happens inside them; a rollback to an
unsent savepoint drops the writes queued since it and restores the head and stream versions.
A savepoint that saw no write costs no statement.

A projection that must know a row before changing it asks `lookup`: the row as this command
wrote it, no row for an id the command made up (`new_id`), else a read by key that only
flushes first when a queued write may touch that row. At a flush, later changes of rows still
queued are folded into them (`ops.Rows.absorb`), and `closing` writes that sum up the whole
unit of work (the bus's idle-checkpoint move) are queued once, when it finishes.
"""

from __future__ import annotations

import contextvars
import copy
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connection, models, transaction

from hm_core.events.ops import Op, Rows, Update, compact, run_all, run_grouped

M = TypeVar("M", bound=models.Model)
T = TypeVar("T")

_current: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar(
    "hm_unit_of_work", default=None
)
# The last outermost unit of work that finished in this context (see `written_row`).
_finished: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar(
    "hm_unit_of_work_finished", default=None
)


@dataclass
class Head:
    """The tenant's chain head as this command moves it (locked in the database)."""

    position: int
    hash: str
    start: int  # position when locked: unchanged means nothing to write


@dataclass
class _Mark:
    """A savepoint the database has not been sent yet, and the state to restore on rollback."""

    sql: str
    ops_at: int
    history_at: int
    heads: dict[Any, Head]
    versions: dict[Any, int]
    sent: bool = False


@dataclass
class UnitOfWork:
    ops: list[Op] = field(default_factory=list)
    heads: dict[Any, Head] = field(default_factory=dict)
    versions: dict[Any, int] = field(default_factory=dict)  # stream id → version so far
    event_types: set[str] = field(default_factory=set)
    # Writes that sum up the whole unit of work, queued when it finishes (before its last flush,
    # so on PostgreSQL they join its last grouped statement), once per key however many
    # commands asked: the bus's move of each tenant's idle checkpoints.
    closing: dict[Any, Callable[[], None]] = field(default_factory=dict)
    # Ids made up by this unit of work (`new_id`): no row written before it has one as its key.
    minted: set[Any] = field(default_factory=set)
    # Every write queued so far (kept after flushes), and the writes that bypassed the queue:
    # what `refresh` and `row` answer responses from.
    history: list[Op] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    _marks: list[_Mark] = field(default_factory=list)
    _internal: bool = False

    def add(self, op: Op) -> None:
        """Queue a write (merged with its table's others when flushed)."""
        self.ops.append(op)
        self.history.append(op)

    def since(self) -> int:
        """A mark in the command's writes, for `refresh` and `row`."""
        return len(self.history)

    def refresh(self, instance: models.Model, *, since: int) -> bool:
        """Bring `instance` (read at `since`) up to what the command wrote to its row since,
        without reading it again; False when a write to its table is not known row by row
        (the caller reads it again). A value computed by the database (an expression) is
        left deferred: Django reads it if, and when, it is used."""
        table = instance._meta.db_table
        if since > len(self.history) or any(f'"{table}"' in sql for sql in self.foreign):
            return False
        for op in self.history[since:]:
            if op.table == table and not _apply(op, instance):
                return False
        return True

    def row(self, model: type[models.Model], pk: Any, *, since: int) -> models.Model | None:
        """The row with primary key `pk` this command inserted (`insert`, or `upsert` of a key
        it made up) since `since`, as it stands after the command's later writes; None when
        it cannot tell."""
        for at, op in enumerate(self.history[since:], start=since):
            if isinstance(op, Rows) and op.model is model:
                for obj in op.objs:
                    if obj.pk == pk:  # a copy: the queued row may not be flushed yet
                        found = copy.copy(obj)
                        _assign(found, {f.name: getattr(found, f.attname) for f in _columns(found)})
                        return found if self.refresh(found, since=at + 1) else None
        return None

    def lookup(self, model: type[M], pk: Any, read: Callable[[], T]) -> M | T | None:
        """The row with primary key `pk` as this command leaves it so far: the one it wrote
        when it knows it (no statement), None for an id it made up (`new_id`) and wrote no
        row of, else `read()` (a read of that row), sent without flushing first when no
        queued write can touch the row.

        A projection that reads the row it is about to change (a report's visit before each
        encounter event) then neither reads what it wrote itself nor forces a flush of a
        unit of work that queued writes to other rows of the table (a FHIR Bundle's other
        encounters)."""
        found = self.row(model, pk, since=0)
        if isinstance(found, model):
            return found
        table = model._meta.db_table
        if self._made_up(model, pk):
            return None
        if not all(_misses(op, model, pk) for op in self.ops if op.table == table):
            return read()
        with self.internal():
            return read()

    def _made_up(self, model: type[models.Model], pk: Any, *, until: int | None = None) -> bool:
        """Whether `pk` is an id this command made up and surely wrote no row of (in its
        writes before `until`)."""
        table = model._meta.db_table
        return (
            pk in self.minted
            and not any(f'"{table}"' in sql for sql in self.foreign)
            and all(_misses(op, model, pk) for op in self.history[:until] if op.table == table)
        )

    @contextmanager
    def internal(self) -> Iterator[None]:
        """Statements of the unit of work itself: no flush, no savepoint sent before them."""
        was, self._internal = self._internal, True
        try:
            yield
        finally:
            self._internal = was

    def flush(self, *, savepoints: bool = False) -> None:
        """Run the queued writes in order, sending each savepoint just before the first write
        made inside it (all open ones first with `savepoints`, before a foreign write)."""
        ops, self.ops = self.ops, []
        earlier = len(self.history) - len(ops)  # the writes already sent

        def fresh(model: type[models.Model], pk: Any) -> bool:
            return self._made_up(model, pk, until=earlier)

        done = 0
        with self.internal():
            for mark in self._marks:
                if not mark.sent:
                    self._run(compact(ops[done : mark.ops_at], fresh))
                    done = mark.ops_at
                    if done < len(ops) or savepoints:
                        connection.cursor().execute(mark.sql)
                        mark.sent = True
                mark.ops_at = 0
            self._run(compact(ops[done:], fresh))

    def _run(self, ops: list[Op]) -> None:
        run_grouped(ops)

    def finish(self) -> None:
        """The last flush: queued writes, the closing writes and each moved head, written once
        (on PostgreSQL in the statement of the command's last writes)."""
        for close in list(self.closing.values()):
            close()
        for tenant_id, head in self.heads.items():
            if head.position != head.start:
                self.add(_head_write(tenant_id, head))
                head.start = head.position
        self.flush(savepoints=bool(self._marks))

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if self._internal:
            return execute(sql, params, many, context)
        verb = sql.lstrip()[:22].upper()
        if verb.startswith(("SAVEPOINT ", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            return self._savepoint(execute, sql, params, many, context)
        if not verb.startswith("SELECT") or self._reads_pending(sql):
            self.flush(savepoints=not verb.startswith("SELECT"))
        if not verb.startswith("SELECT"):
            self.foreign.append(sql)
        return execute(sql, params, many, context)

    def _reads_pending(self, sql: str) -> bool:
        """Whether a read names a table with queued writes (else it may run before them)."""
        return any(f'"{op.table}"' in sql for op in self.ops)

    def _savepoint(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        name = sql.rsplit(" ", 1)[-1]
        if sql.startswith("SAVEPOINT"):
            heads = {k: Head(h.position, h.hash, h.start) for k, h in self.heads.items()}
            mark = _Mark(
                sql,
                len(self.ops),
                len(self.history),
                heads,
                dict(self.versions),
            )
            self._marks.append(mark)
            return None
        found = [i for i, m in enumerate(self._marks) if m.sql.endswith(" " + name)]
        if not found:  # opened before this unit of work: the database has it
            return execute(sql, params, many, context)
        mark = self._marks[found[-1]]
        if sql.startswith("RELEASE"):
            del self._marks[found[-1] :]
        else:
            del self._marks[found[-1] + 1 :]
            del self.ops[mark.ops_at :]
            del self.history[mark.history_at :]
            self.heads, self.versions = mark.heads, mark.versions
            mark.heads = {k: Head(h.position, h.hash, h.start) for k, h in self.heads.items()}
            mark.versions = dict(self.versions)
        return execute(sql, params, many, context) if mark.sent else None


def _apply(op: Op, instance: models.Model) -> bool:
    """Apply one write of the instance's table to it if it touched its row; False when
    whether it did is unknown."""
    if isinstance(op, Update):
        key = op.key()
        if key is None:
            return False
        if all(getattr(instance, name, _MISSING) == value for name, value in key.items()):
            _assign(instance, op.fields)
        return True
    if isinstance(op, Rows):
        names = op.keys or (instance._meta.pk.name,)  # type: ignore[union-attr]
        mine = tuple(getattr(instance, name) for name in names)
        for obj in op.objs:
            if obj is not instance and tuple(getattr(obj, name) for name in names) == mine:
                if op.conflict != "update":
                    return op.conflict == "ignore"  # it existed: the insert was skipped
                _assign(instance, {name: getattr(obj, name) for name in op.updates})
        return True
    return False


def _misses(op: Op, model: type[models.Model], pk: Any) -> bool:
    """Whether a queued write surely leaves the row with primary key `pk` alone: rows of
    other keys inserted, or upserted on the primary key (an upsert on another unique key
    may change any row)."""
    if not isinstance(op, Rows) or op.model is not model:
        return False
    pk_name = model._meta.pk.name  # type: ignore[union-attr]
    if op.conflict == "update" and op.keys not in ((pk_name,), ("pk",)):
        return False
    return all(obj.pk != pk for obj in op.objs)


def _columns(instance: models.Model) -> list[Any]:
    return [f for f in instance._meta.concrete_fields if f.attname in instance.__dict__]


def _assign(instance: models.Model, fields: dict[str, Any]) -> None:
    """Set fields to the values as the database would return them (types, decimal places,
    UTC); an expression leaves its field deferred (read on first use)."""
    for name, value in fields.items():
        field: Any = instance._meta.get_field(name)
        if hasattr(value, "resolve_expression"):
            instance.__dict__.pop(field.attname, None)
            continue
        value = field.to_python(value)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC)
        if isinstance(value, Decimal) and isinstance(field, models.DecimalField):
            value = value.quantize(Decimal(1).scaleb(-field.decimal_places))
        setattr(instance, field.attname, value)


_MISSING = object()


def current() -> UnitOfWork | None:
    return _current.get()


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """Join the open unit of work, or open one that flushes when the block ends without error."""
    uow = _current.get()
    if uow is not None:
        yield uow
        return
    uow = UnitOfWork()
    _finished.set(None)
    token = _current.set(uow)
    # Outermost wrapper: wrappers installed earlier (query counters, tracing) see only the
    # statements that really reach the database.
    connection.execute_wrappers.insert(0, uow)
    try:
        yield uow
        uow.finish()
        _finished.set(uow)
    finally:
        connection.execute_wrappers.remove(uow)
        _current.reset(token)


def new_id() -> uuid.UUID:
    """A new random id for something the command creates (an encounter). The open unit of
    work remembers it: no row written before it can hold it, so `lookup` answers "no row"
    for it without a read (a report's visit row of an encounter created now)."""
    value = uuid.uuid4()
    uow = _current.get()
    if uow is not None:
        uow.minted.add(value)
    return value


def written_row(model: type[M], pk: Any) -> M | None:
    """The row with primary key `pk` that the open unit of work, or the one that just
    finished, inserted (a service answering with the row its command created, e.g. a new
    patient, without reading it back); None when it holds no such row."""
    uow = _current.get() or _finished.get()
    found = uow.row(model, pk, since=0) if uow is not None else None
    return found if isinstance(found, model) else None


@contextmanager
def command_block() -> Iterator[UnitOfWork]:
    """An atomic block holding a unit of work whose flush happens before it commits.

    Opened inside another transaction, the unit of work starts first, so this block's own
    savepoint is one the database only sees if a write needs it."""
    if _current.get() is not None:
        with unit_of_work() as uow, transaction.atomic():
            yield uow
    elif connection.in_atomic_block:
        # Its savepoint is sent before the first write flushed inside it (a caller that catches
        # the command's error keeps a usable transaction, as before the unit of work).
        with unit_of_work() as uow, transaction.atomic():
            yield uow
    else:
        with transaction.atomic(), unit_of_work() as uow:
            yield uow


def upsert(model: type[models.Model], *, defaults: dict[str, Any], **key: Any) -> None:
    """`update_or_create` as one `INSERT ... ON CONFLICT (key) DO UPDATE` (no savepoints)."""
    op = Rows(model, [model(**key, **defaults)], conflict="update", keys=tuple(key))
    op.updates = tuple(defaults)
    _queue(op)


def insert(model: type[models.Model], *objs: models.Model, ignore_conflicts: bool = True) -> None:
    """Insert rows (idempotent by default: a replayed event adds nothing)."""
    _queue(Rows(model, list(objs), conflict="ignore" if ignore_conflicts else "none"))


def update(queryset: models.QuerySet[Any], **fields: Any) -> None:
    """`queryset.update(**fields)`, queued in order with the command's other writes."""
    _queue(Update(queryset, fields))


def _queue(op: Op) -> None:
    uow = _current.get()
    if uow is None:
        run_all([op])
    else:
        uow.add(op)


def _head_write(tenant_id: Any, head: Head) -> Update:
    from hm_core.events.models import TenantEventHead

    return Update(
        TenantEventHead.objects.filter(tenant_id=tenant_id),
        {"position": head.position, "hash": head.hash},
    )
