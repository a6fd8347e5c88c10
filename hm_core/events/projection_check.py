"""Read-model tampering: rebuild a tenant's read models aside and report every row that differs.

The hash chain proves the events; the read models the API serves are derived from them and are
not chained, so an `UPDATE patients_patient SET full_name = ...` made by hand changes what the
API answers and nothing else notices. `verify_projections` replays the tenant's events through
every rebuildable module's projections (`replay.rebuild`) into scratch copies of the read-model
tables and compares them, row by row, with the live ones.

Why scratch tables, and which: each read-model table is shadowed by a session-local TEMP table
of the same name and shape (PostgreSQL: `CREATE TEMP TABLE t (LIKE public.t INCLUDING ALL)`;
SQLite: the table's own DDL, made TEMP). Both engines resolve an unqualified name to the TEMP
table first, so the unchanged projections write into the copies while the events are read from
the live store. Everything happens in one transaction that is rolled back at the end, which
drops the copies and undoes any stray write. The alternative, rebuilding the live tables inside
a transaction rolled back after comparing, deletes and rewrites the tenant's live rows: it holds
their row locks for the whole replay, so the tenant's writers wait (or the check fails with a
serialization error), while here the live tables are only read. On PostgreSQL the transaction is
REPEATABLE READ, so the live rows and the events are one snapshot: commits made meanwhile cause
no false report. TEMP tables need no privilege beyond PostgreSQL's default `TEMPORARY`, so the
check runs as `DB_APP_ROLE` with the tenant set (under RLS it cannot see another tenant's rows).

Rows are compared on their identity: the primary key, or, where that is a surrogate counter
(the reports' per-day rollups: a rebuild numbers their rows anew), the model's unique key and
every column but the counter. Field-encryption tokens are compared by plaintext (a
`rotate_field_keys` re-encrypts the read models but not the events: same value, other bytes).
Cost: one replay of the tenant's events, plus a digest per live row held in memory.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models, transaction
from django.db.models.fields import AutoFieldMixin

from hm_core.common.crypto import FieldKeyMissing, decrypt_field, is_encrypted
from hm_core.events import replay

Digests = dict[Any, bytes]


@dataclass
class ProjectionReport:
    tenant_id: uuid.UUID
    ok: bool = True
    tables_checked: int = 0
    rows_checked: int = 0
    events_replayed: int = 0
    # {table, pk, difference, fields}; at most `limit` of them. `difference`: missing (the
    # events make the row, the live table lacks it), unexpected (a live row the events do not
    # make) or changed (`fields` name the columns).
    differences: list[dict[str, Any]] = field(default_factory=list)
    differences_total: int = 0


def verify_projections(
    tenant_id: uuid.UUID, *, modules: Iterable[str] | None = None, limit: int = 100
) -> ProjectionReport:
    """Rebuild the tenant's read models into scratch tables and report the live rows that
    differ: missing, unexpected, or changed."""
    selected = sorted(modules) if modules is not None else replay.rebuildable_modules()
    read_models = replay.read_models_of(selected)
    report = ProjectionReport(tenant_id=tenant_id)
    outermost = not connection.in_atomic_block
    if outermost and connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # the session's role and tenant, set before BEGIN
            cursor.execute("SELECT 1")
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        live = {model: _digests(model, tenant_id) for model in read_models}
        for model in read_models:
            _shadow(model)
        report.events_replayed = replay.rebuild(selected, tenant_ids=[tenant_id]).events
        for model in read_models:
            _compare(model, tenant_id, live[model], report, limit=limit)
        transaction.set_rollback(True)
    report.tables_checked = len(read_models)
    report.ok = report.differences_total == 0
    return report


# --- rows and their digests ----------------------------------------------------------------


def _surrogate(model: type[models.Model]) -> bool:
    """Whether the primary key is a counter the database assigns (not the row's identity)."""
    return isinstance(model._meta.pk, AutoFieldMixin)


def _identity(model: type[models.Model]) -> list[str]:
    """The columns that identify a row across a rebuild: the primary key, unless it is a
    surrogate counter; then the model's first unconditional unique constraint."""
    pk = model._meta.pk.attname  # type: ignore[union-attr]
    if not _surrogate(model):
        return [pk]
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.condition is None:
            return [_field(model, name).attname for name in constraint.fields]
    return [pk]


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """A concrete column of `model` by name or attname (get_field looks up both)."""
    found = model._meta.get_field(name)
    if not isinstance(found, models.Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return found


def _columns(model: type[models.Model]) -> list[str]:
    """The compared columns: all but a surrogate counter."""
    counter = model._meta.pk.attname if _surrogate(model) else None  # type: ignore[union-attr]
    return [f.attname for f in model._meta.concrete_fields if f.attname != counter]


def _plain(value: Any) -> Any:
    """Tokens as their plaintext (any key's), recursively; what no key opens stays a token."""
    if isinstance(value, str) and is_encrypted(value):
        try:
            return decrypt_field(value)
        except FieldKeyMissing:
            return value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _digest(values: tuple[Any, ...]) -> bytes:
    return hashlib.blake2b(repr(tuple(_plain(v) for v in values)).encode(), digest_size=16).digest()


def _digests(model: type[models.Model], tenant_id: uuid.UUID) -> Digests:
    columns = _columns(model)
    at = [columns.index(name) for name in _identity(model)]
    rows = model._base_manager.filter(tenant_id=tenant_id).values_list(*columns)
    return {_key(row, at): _digest(row) for row in rows.iterator(chunk_size=2000)}


def _key(row: tuple[Any, ...], at: list[int]) -> Any:
    return row[at[0]] if len(at) == 1 else tuple(row[i] for i in at)


# --- scratch tables ------------------------------------------------------------------------


def _shadow(model: type[models.Model]) -> None:
    """A TEMP table of the same name and shape as `model`'s, which hides the live one."""
    table = model._meta.db_table
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT current_schema()")
            schema = connection.ops.quote_name(cursor.fetchone()[0])
            cursor.execute(
                f"CREATE TEMP TABLE {quoted} (LIKE {schema}.{quoted} INCLUDING ALL) ON COMMIT DROP"
            )
            return
        cursor.execute(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL "
            "ORDER BY type = 'index'",
            [table],
        )
        for kind, sql in cursor.fetchall():
            cursor.execute(_sqlite_temp(kind, sql))


def _sqlite_temp(kind: str, sql: str) -> str:
    if kind == "table":
        return "CREATE TEMP TABLE" + sql[len("CREATE TABLE") :]
    for prefix in ("CREATE UNIQUE INDEX ", "CREATE INDEX "):
        if sql.startswith(prefix):
            return prefix + "temp." + sql[len(prefix) :]
    raise ValueError(f"cannot shadow {kind}: {sql[:60]}")


def _live_table(model: type[models.Model]) -> str:
    """The live table under its schema, past the TEMP table that hides it."""
    quoted = connection.ops.quote_name(model._meta.db_table)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            return f"{connection.ops.quote_name(cursor.fetchone()[0])}.{quoted}"
    return f"main.{quoted}"


# --- comparison ----------------------------------------------------------------------------


def _compare(
    model: type[models.Model],
    tenant_id: uuid.UUID,
    live: Digests,
    report: ProjectionReport,
    *,
    limit: int,
) -> None:
    rebuilt = _digests(model, tenant_id)  # the TEMP table now
    report.rows_checked += len(live)
    differing = sorted(
        ((pk, "missing") for pk in rebuilt.keys() - live.keys()),
        key=lambda item: str(item[0]),
    )
    differing += sorted(
        ((pk, "unexpected") for pk in live.keys() - rebuilt.keys()),
        key=lambda item: str(item[0]),
    )
    differing += sorted(
        ((pk, "changed") for pk in live.keys() & rebuilt.keys() if live[pk] != rebuilt[pk]),
        key=lambda item: str(item[0]),
    )
    report.differences_total += len(differing)
    room = max(limit - len(report.differences), 0)
    for pk, difference in differing[:room]:
        fields = _changed_fields(model, pk) if difference == "changed" else []
        report.differences.append(
            {
                "table": model._meta.db_table,
                "pk": "/".join(map(str, pk)) if isinstance(pk, tuple) else str(pk),
                "difference": difference,
                "fields": fields,
            }
        )


def _changed_fields(model: type[models.Model], key: Any) -> list[str]:
    columns = _columns(model)
    names = _identity(model)
    values = key if isinstance(key, tuple) else (key,)
    fields = [_field(model, name) for name in names]
    [rebuilt] = model._base_manager.filter(**dict(zip(names, values, strict=True))).values_list(
        *columns
    )
    where = " AND ".join(f"{connection.ops.quote_name(str(f.column))} = %s" for f in fields)
    [live] = list(
        model._base_manager.raw(
            f"SELECT * FROM {_live_table(model)} WHERE {where}",  # noqa: S608 - names
            [f.get_db_prep_value(v, connection) for f, v in zip(fields, values, strict=True)],
        )
    )
    return [
        name
        for name, value in zip(columns, rebuilt, strict=True)
        if _plain(getattr(live, name)) != _plain(value)
    ]
