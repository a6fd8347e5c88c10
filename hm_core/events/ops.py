"""The writes a unit of work queues: rows for one table (one multi-row INSERT) or a statement."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from django.db import models


class Op(Protocol):
    table: str

    def merge(self, other: Op) -> bool: ...

    def run(self) -> None: ...


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

    def _keys_of(self, op: Rows) -> set[tuple[Any, ...]]:
        return {tuple(getattr(obj, key) for key in op.keys) for obj in op.objs}

    def run(self) -> None:
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


def compact(ops: list[Op]) -> list[Op]:
    """Merge each write into the last earlier write of its table when they are compatible.

    Only rows move, and only to an earlier INSERT of their own table with nothing on that
    table in between; other tables' order does not matter (foreign keys are deferred)."""
    merged: list[Op] = []
    last: dict[str, Op] = {}
    for op in ops:
        before = last.get(op.table)
        if before is not None and before.merge(op):
            continue
        merged.append(op)
        last[op.table] = op
    return merged


def run_all(ops: Iterable[Op]) -> None:
    for op in ops:
        op.run()


def insert_ignoring_conflicts(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """Insert `objs` skipping duplicate keys; how many rows were really inserted."""
    from django.db import connection
    from django.db.models.constants import OnConflict
    from django.db.models.sql import InsertQuery

    fields = model._meta.concrete_fields
    size = connection.ops.bulk_batch_size(list(fields), objs) or len(objs)
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
            query.insert_values(fields, list(objs[start : start + size]))
            for sql, params in query.get_compiler(connection=connection).as_sql():
                cursor.execute(sql, params)
                inserted += cursor.rowcount
    return inserted
