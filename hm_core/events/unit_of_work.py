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
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection, models, transaction

from hm_core.common.errors import VersionConflict
from hm_core.events.ops import Op, Rows, Statement, compact, run_all

_current: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar(
    "hm_unit_of_work", default=None
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
    heads: dict[Any, Head]
    versions: dict[Any, int]
    sent: bool = False
    root: bool = False  # the command block's own savepoint: never sent (see _rollback_root)


@dataclass
class UnitOfWork:
    ops: list[Op] = field(default_factory=list)
    heads: dict[Any, Head] = field(default_factory=dict)
    versions: dict[Any, int] = field(default_factory=dict)  # stream id → version so far
    event_types: set[str] = field(default_factory=set)
    idle_checked: dict[Any, int] = field(default_factory=dict)  # tenant → position (bus)
    _marks: list[_Mark] = field(default_factory=list)
    _internal: bool = False
    _root_next: bool = False
    _wrote: bool = False

    def add(self, op: Op) -> None:
        """Queue a write (merged with its table's others when flushed)."""
        self.ops.append(op)

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
        done = 0
        with self.internal():
            for mark in self._marks:
                if not mark.sent:
                    self._run(compact(ops[done : mark.ops_at]))
                    done = mark.ops_at
                    if not mark.root and (done < len(ops) or savepoints):
                        connection.cursor().execute(mark.sql)
                        mark.sent = True
                mark.ops_at = 0
            self._run(compact(ops[done:]))

    def _run(self, ops: list[Op]) -> None:
        for op in ops:
            try:
                op.run()
            except VersionConflict:
                raise  # raised before writing anything (a partial chain marks the rollback)
            except Exception:
                self._wrote = True
                raise
            self._wrote = True

    def finish(self) -> None:
        """The last flush: queued writes, then each moved head, once."""
        self.flush(savepoints=bool(self._marks))
        with self.internal():
            for tenant_id, head in self.heads.items():
                if head.position != head.start:
                    _head_write(tenant_id, head)
                    head.start = head.position

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
            mark = _Mark(sql, len(self.ops), heads, dict(self.versions), root=self._root_next)
            self._marks.append(mark)
            self._root_next = False
            return None
        found = [i for i, m in enumerate(self._marks) if m.sql.endswith(" " + name)]
        if not found:  # opened before this unit of work: the database has it
            return execute(sql, params, many, context)
        mark = self._marks[found[-1]]
        if sql.startswith("RELEASE"):
            del self._marks[found[-1] :]
        else:
            if mark.root and self._wrote:
                self._rollback_root()
            del self._marks[found[-1] + 1 :]
            del self.ops[mark.ops_at :]
            self.heads, self.versions = mark.heads, mark.versions
            mark.heads = {k: Head(h.position, h.hash, h.start) for k, h in self.heads.items()}
            mark.versions = dict(self.versions)
        return execute(sql, params, many, context) if mark.sent else None

    def _rollback_root(self) -> None:
        """The command block's savepoint was never sent, to save two statements per command;
        writes already reached the database, so the enclosing transaction must roll back."""
        raise DatabaseError("the command failed after its writes were sent; rolling back")


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
    token = _current.set(uow)
    # Outermost wrapper: wrappers installed earlier (query counters, tracing) see only the
    # statements that really reach the database.
    connection.execute_wrappers.insert(0, uow)
    try:
        yield uow
        uow.finish()
    finally:
        connection.execute_wrappers.remove(uow)
        _current.reset(token)


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
    _queue(Statement(queryset.model._meta.db_table, lambda: queryset.update(**fields)))


def _queue(op: Op) -> None:
    uow = _current.get()
    if uow is None:
        run_all([op])
    else:
        uow.add(op)


def _head_write(tenant_id: Any, head: Head) -> None:
    from hm_core.events.models import TenantEventHead

    TenantEventHead.objects.filter(tenant_id=tenant_id).update(
        position=head.position, hash=head.hash
    )
