"""Per-day rollups: exact counts and sums per facility, local day and dimension.

The projections add to them with `bump` — one `INSERT ... ON CONFLICT DO UPDATE SET n = n +
excluded.n` per table and command — in the same transaction as the fact rows, adding the
difference between a fact's contribution before and after the event (so an event applied twice
adds nothing). `refresh` recomputes a facility's local days and rollups from its fact rows:
when the facility's time zone changes, and to fill them after a bulk load (the benchmark).
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, models
from django.db.models import Count, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from hm_core.events.unit_of_work import current
from hm_core.iam.selectors import facility_time_zone
from hm_core.reports.models import (
    MINUTE_EDGES,
    NOBODY,
    LabDay,
    LabTurnaround,
    OpdDay,
    OpdNoShow,
    OpdVisit,
    RevenueDay,
    RevenueEntry,
    minute_buckets,
)

REVENUE_KINDS = ("billed", "claimed", "approved", "paid")
CENTS = Decimal("0.01")

# (key fields) of each rollup table, after tenant, facility and day.
DIMENSIONS: dict[type[models.Model], tuple[str, ...]] = {
    OpdDay: ("practitioner_id",),
    LabDay: ("service_code",),
    RevenueDay: ("payer", "service_code", "currency"),
}

Deltas = dict[tuple[Any, ...], dict[str, int]]


def zone_of(tenant_id: uuid.UUID, facility_id: uuid.UUID) -> ZoneInfo:
    """The facility's IANA zone (UTC when unset or unknown), read once per command."""
    uow = current()
    cache: dict[tuple[uuid.UUID, uuid.UUID], ZoneInfo] = (
        uow.__dict__.setdefault("reports_zones", {}) if uow is not None else {}
    )
    key = (tenant_id, facility_id)
    if key not in cache:
        cache[key] = zone_named(facility_time_zone(tenant_id=tenant_id, facility_id=facility_id))
    return cache[key]


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(instant: datetime | None, zone: ZoneInfo) -> date | None:
    return None if instant is None else instant.astimezone(zone).date()


def cents(amount: Decimal) -> int:
    return int(Decimal(amount).quantize(CENTS) * 100)


def add(deltas: Deltas, key: tuple[Any, ...], figures: Mapping[str, int], sign: int) -> None:
    """Add (sign 1) or take away (sign -1) one fact's figures under its rollup key."""
    bucket = deltas.setdefault(key, {})
    for name, value in figures.items():
        bucket[name] = bucket.get(name, 0) + sign * value


def bump(
    model: type[models.Model], tenant_id: uuid.UUID, facility_id: uuid.UUID, deltas: Deltas
) -> None:
    """Queue `deltas` ((day, *dimensions) → {figure: increment}) as an increment upsert;
    the increments a command queues for one table merge into one statement."""
    rows = {
        (tenant_id, facility_id, *key): dict(figures)
        for key, figures in deltas.items()
        if key[0] is not None and any(figures.values())
    }
    if not rows:
        return
    op = Increment(model, rows)
    uow = current()
    if uow is None:
        op.run()
    else:
        uow.add(op)


@dataclass
class Increment:
    """Rollup rows to add to (a unit-of-work op that merges with the next of its table).

    Not `rows`: the unit of work reads an op's `rows` as its row-count callback."""

    model: type[models.Model]
    increments: dict[tuple[Any, ...], dict[str, int]]
    table: str = field(init=False)

    def __post_init__(self) -> None:
        self.table = self.model._meta.db_table

    def merge(self, other: Any) -> bool:
        if not isinstance(other, Increment) or other.model is not self.model:
            return False
        for key, figures in other.increments.items():
            mine = self.increments.setdefault(key, {})
            for name, n in figures.items():
                mine[name] = mine.get(name, 0) + n
        return True

    def run(self) -> None:
        statement = self.sql()
        if statement is not None:
            with connection.cursor() as cursor:
                cursor.execute(*statement)

    def sql(self) -> tuple[str, tuple[Any, ...]] | None:
        """The increments as one statement (None: nothing to add); it can also join the unit
        of work's grouped statement (`events.ops.run_grouped`)."""
        rows = {key: f for key, f in self.increments.items() if any(f.values())}
        if not rows:
            return None
        keys = ("tenant_id", "facility_id", "day", *DIMENSIONS[self.model])
        names = sorted({name for figures in rows.values() for name in figures})
        values = [(*key, *(f.get(n, 0) for n in names)) for key, f in rows.items()]
        return _increment_sql(self.model, keys, names, values)


def _increment_sql(
    model: type[models.Model],
    keys: tuple[str, ...],
    names: list[str],
    values: list[tuple[Any, ...]],
) -> tuple[str, tuple[Any, ...]]:
    meta, qn = model._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in (*keys, *names)]
    params = [
        field.get_db_prep_value(value, connection, prepared=False)  # type: ignore[union-attr]
        for row in values
        for field, value in zip(fields, row, strict=True)
    ]
    table = qn(meta.db_table)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sets = ", ".join(f"{qn(n)} = {table}.{qn(n)} + EXCLUDED.{qn(n)}" for n in names)
    # Only our own model's quoted names go into the text; every value is a parameter.
    columns = ", ".join(qn(name) for name in (*keys, *names))  # column = field name here
    sql = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([one] * len(values))} "
        f"ON CONFLICT ({', '.join(qn(k) for k in keys)}) DO UPDATE SET {sets}"
    )
    return sql, tuple(params)


# --- contributions of one fact row ------------------------------------------------------------


def visit_figures(row: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, int]]:
    """An OPD visit's key and counts, its wait and length in their histogram buckets."""
    key = (row.get("day"), row.get("practitioner_id") or NOBODY)
    status = row.get("status")
    figures = {
        "encounters": 1,
        "closed": int(status == "CLOSED"),
        "cancelled": int(status == "CANCELLED"),
    }
    for metric, column in (("waits", "wait_minutes"), ("visits", "visit_minutes")):
        minutes = row.get(column)
        figures[metric] = int(minutes is not None)
        if minutes is not None:
            figures[f"{metric}_from_{minute_edge(minutes)}"] = 1
    return key, figures


def minute_edge(minutes: float) -> int:
    """The lower edge of the histogram bucket of an interval (the first bucket takes anything
    below the second edge, a negative interval included)."""
    return MINUTE_EDGES[max(bisect.bisect_right(MINUTE_EDGES, minutes) - 1, 0)]


def minute_bucket_counts(column: str, metric: str) -> dict[str, Count]:
    """The database's count of `column` per histogram bucket (the same edges as `minute_edge`:
    the first bucket unbounded below, the last above)."""
    counts = {}
    for index, name in enumerate(minute_buckets(metric)):
        bounds = Q()
        if index > 0:
            bounds &= Q(**{f"{column}__gte": MINUTE_EDGES[index]})
        if index + 1 < len(MINUTE_EDGES):
            bounds &= Q(**{f"{column}__lt": MINUTE_EDGES[index + 1]})
        counts[name] = Count(column, filter=bounds)
    return counts


def revenue_figures(row: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, int]] | None:
    """A money entry's key and cents, or None for a draft or a reversed charge."""
    if row["kind"] not in REVENUE_KINDS:
        return None
    key = (row["day"], row["payer"], row["service_code"], row["currency"])
    return key, {row["kind"]: cents(row["amount"])}


Change = tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]


def revenue_deltas(changes: list[Change]) -> Deltas:
    """The rollup difference of entries changed from `before` to `after` (None: no entry)."""
    deltas: Deltas = {}
    for before, after in changes:
        for row, sign in ((before, -1), (after, 1)):
            found = revenue_figures(row) if row is not None else None
            if found is not None:
                add(deltas, found[0], found[1], sign)
    return deltas


# --- recomputing from the fact rows -------------------------------------------------------


def refresh(*, tenant_id: uuid.UUID, facility_id: uuid.UUID, zone: ZoneInfo) -> None:
    """Re-key a facility's facts to local days in `zone` and recompute its rollups from them."""
    where = {"tenant_id": tenant_id, "facility_id": facility_id}
    facts: tuple[tuple[type[models.Model], str], ...] = (
        (OpdVisit, "at"),
        (OpdNoShow, "at"),
        (LabTurnaround, "released_at"),
        (RevenueEntry, "at"),
    )
    for fact, column in facts:
        fact._base_manager.filter(**where, **{f"{column}__isnull": False}).update(
            day=TruncDate(column, tzinfo=zone)
        )
    rollups_recompute(tenant_id=tenant_id, facility_id=facility_id)


def rollups_recompute(*, tenant_id: uuid.UUID, facility_id: uuid.UUID) -> None:
    """Replace a facility's rollups by the sums of its fact rows (their days already set)."""
    for model in DIMENSIONS:
        model._base_manager.filter(tenant_id=tenant_id, facility_id=facility_id).delete()
    for model, deltas in rollups_from_facts(tenant_id=tenant_id, facility_id=facility_id).items():
        bump(model, tenant_id, facility_id, deltas)


def rollups_from_facts(
    *, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> dict[type[models.Model], Deltas]:
    """What each rollup table should hold, aggregated by the database from the fact rows."""
    where = {"tenant_id": tenant_id, "facility_id": facility_id, "day__isnull": False}
    who = Coalesce("practitioner_id", Value(NOBODY, output_field=models.UUIDField()))
    visits = OpdVisit.all_tenants.filter(**where).annotate(who=who)
    opd = _grouped(visits, ("day", "who"), {
        "encounters": Count("pk"),
        "closed": Count("pk", filter=Q(status="CLOSED")),
        "cancelled": Count("pk", filter=Q(status="CANCELLED")),
        "waits": Count("wait_minutes"),
        "visits": Count("visit_minutes"),
        **minute_bucket_counts("wait_minutes", "waits"),
        **minute_bucket_counts("visit_minutes", "visits"),
    })  # fmt: skip
    no_shows = OpdNoShow.all_tenants.filter(**where).annotate(who=who)
    for key, figures in _grouped(no_shows, ("day", "who"), {"no_shows": Count("pk")}).items():
        opd.setdefault(key, {}).update(figures)
    lab = _grouped(LabTurnaround.all_tenants.filter(**where), ("day", "service_code"), {
        "results": Count("pk"), "critical": Count("pk", filter=Q(critical=True)),
    })  # fmt: skip
    entries = RevenueEntry.all_tenants.filter(**where, kind__in=REVENUE_KINDS)
    money = {kind: Sum("amount", filter=Q(kind=kind)) for kind in REVENUE_KINDS}
    revenue = _grouped(entries, ("day", "payer", "service_code", "currency"), money)
    for figures in revenue.values():
        figures.update({kind: cents(Decimal(value or 0)) for kind, value in figures.items()})
    return {OpdDay: opd, LabDay: lab, RevenueDay: revenue}


def _grouped(qs: QuerySet[Any], keys: tuple[str, ...], figures: dict[str, Any]) -> Deltas:
    found: Deltas = {}
    for row in qs.values(*keys).annotate(**figures).order_by():
        values: dict[str, Any] = dict(row)
        found[tuple(values.pop(k) for k in keys)] = values
    return found


def rollup_rows(
    *, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> dict[type[models.Model], Deltas]:
    """What each rollup table holds (rows whose figures are all zero left out)."""
    found: dict[type[models.Model], Deltas] = {}
    for model, dims in DIMENSIONS.items():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.IntegerField) and not f.primary_key
        ]
        rows = model._base_manager.filter(tenant_id=tenant_id, facility_id=facility_id)
        found[model] = {
            (row["day"], *(row[d] for d in dims)): {n: row[n] for n in names if row[n]}
            for row in rows.values("day", *dims, *names)
            if any(row[n] for n in names)
        }
    return found
