"""Report read use-cases: every figure is aggregated by the database over the report tables.

A period is a range of whole days in the facility's time zone. Counts and sums add up the
per-day rollups of those days (a few thousand rows for a year); medians and p90 are selected
exactly from the fact rows of those days, by rank through an index ordered by the value on
PostgreSQL (`percentiles_by_rank`), by the `PercentileCont` aggregate on SQLite. Every row
carries its local day (in the facility's zone, set by the projections), so a DST day has 23
or 25 hours as it should.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.db.models import F, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from hm_core.common.models import ScopedModel
from hm_core.common.scope import Scope
from hm_core.iam.selectors import facility_time_zone
from hm_core.reports.models import (
    MINUTE_EDGES,
    NOBODY,
    LabDay,
    LabTurnaround,
    OpdDay,
    OpdVisit,
    RevenueDay,
    minute_buckets,
)
from hm_core.reports.percentile import (
    Buckets,
    PercentileCont,
    Population,
    percentiles_by_rank,
)

OPD_GROUPS = ("day", "practitioner")
REVENUE_GROUPS = ("day", "payer", "service")
REVENUE_KINDS = ("billed", "claimed", "approved", "paid")
OPD_COUNTS = ("encounters", "closed", "cancelled", "no_shows", "waits", "visits")
OPD_HISTOGRAMS = (*minute_buckets("waits"), *minute_buckets("visits"))
TOTAL = "*total*"  # the key of the whole period's percentiles
UNALLOCATED = ""  # the service of payments no billed service could take (projections)
UNALLOCATED_LABEL = "(unallocated)"


@dataclass(frozen=True)
class Period:
    """Whole local days `first`..`last` of a facility, as UTC instants [start, end)."""

    first: date
    last: date
    zone: ZoneInfo
    start: datetime
    end: datetime


def report_period(*, scope: Scope, first: date | None, last: date | None) -> Period:
    """The period of a report; without dates, the 30 days up to today in the facility's zone."""
    zone = _zone(facility_time_zone(tenant_id=scope.tenant_id, facility_id=scope.facility_id))
    last = last or datetime.now(tz=zone).date()
    first = first or last - timedelta(days=29)
    return Period(first, last, zone, _midnight(first, zone), _midnight(last + timedelta(1), zone))


def opd_report(*, scope: Scope, period: Period, group_by: str) -> dict[str, Any]:
    """Encounters, closed, cancelled, no-shows and median wait and visit minutes per key."""
    key = "day" if group_by == "day" else "practitioner_id"
    figures = (*OPD_COUNTS, *OPD_HISTOGRAMS)
    grouped = _days(OpdDay, scope, period).values(key).annotate(**{n: Sum(n) for n in figures})
    counts = {row.pop(key): row for row in grouped.order_by()}
    # Each day and practitioner falls in exactly one row: the totals are their sums.
    totals = {n: sum(row[n] for row in counts.values()) for n in figures}
    medians = {
        metric: _opd_medians(scope, period, group_by, metric, counts, totals)
        for metric in ("wait", "visit")
    }
    rows = [
        _opd_row(group_by, _opd_key(k), counts[k], {m: medians[m].get(k) for m in medians})
        for k in _sorted_keys(set(counts), none_last=NOBODY)
        if counts[k]["encounters"] or counts[k]["no_shows"]
    ]
    total = {m: medians[m].get(TOTAL) for m in medians}
    return {"rows": rows, "totals": _opd_row(None, None, totals, total)}


def _opd_medians(
    scope: Scope,
    period: Period,
    group_by: str,
    metric: str,
    counts: dict[Any, dict[str, int]],
    totals: dict[str, int],
) -> dict[Any, float | None]:
    """Median `wait` or `visit` minutes of each key and of the period (key TOTAL)."""
    column, sizes, buckets = f"{metric}_minutes", f"{metric}s", minute_buckets(f"{metric}s")
    facts = _facts(OpdVisit, scope, period)
    if connection.vendor != "postgresql":
        key = F("day") if group_by == "day" else Coalesce("practitioner_id", Value(NOBODY))
        found = {row["key"]: row["m"] for row in _grouped(facts, key, {
            "m": PercentileCont(column, 0.5)})}  # fmt: skip
        return {**found, TOTAL: facts.aggregate(m=PercentileCont(column, 0.5))["m"]}
    key_sql, key_type = ("day", "date") if group_by == "day" else ("practitioner_id", "uuid")
    groups = {k: row for k, row in counts.items() if k != NOBODY}
    found = percentiles_by_rank(
        _population(OpdVisit, scope, period, column, key_sql, key_type),
        {k: row[sizes] for k, row in groups.items()}, (0.5,), _histograms(groups, buckets),
    )  # fmt: skip
    found |= percentiles_by_rank(
        _population(OpdVisit, scope, period, column), {TOTAL: totals[sizes]}, (0.5,),
        _histograms({TOTAL: totals}, buckets),
    )  # fmt: skip
    if counts.get(NOBODY, {}).get(sizes):
        # Visits with no practitioner: a group of NULLs, which an equality cannot select.
        nobody = _population(OpdVisit, scope, period, column, extra="practitioner_id IS NULL")
        found |= percentiles_by_rank(nobody, {NOBODY: counts[NOBODY][sizes]}, (0.5,),
                                     _histograms({NOBODY: counts[NOBODY]}, buckets))  # fmt: skip
    return {k: v for (k, _), v in found.items()}


def _histograms(rows: dict[Any, dict[str, int]], buckets: tuple[str, ...]) -> dict[Any, Buckets]:
    """Each key's histogram (lower edge, count) from its summed rollup columns `buckets`."""
    return {
        key: tuple((edge, row[name]) for edge, name in zip(MINUTE_EDGES, buckets, strict=True))
        for key, row in rows.items()
    }


def lab_turnaround_report(*, scope: Scope, period: Period) -> dict[str, Any]:
    """Per service code: results released, median and p90 minutes from order, critical ones."""
    days = _days(LabDay, scope, period)
    counts = {
        row.pop("service_code"): row
        for row in days.values("service_code")
        .annotate(results=Sum("results"), critical=Sum("critical"))
        .order_by()
    }
    totals = days.aggregate(results=Coalesce(Sum("results"), 0),
                            critical=Coalesce(Sum("critical"), 0))  # fmt: skip
    found = _lab_percentiles(scope, period, counts, totals["results"])
    rows = [
        _lab_row(counts[code], found, code, service_code=code)
        for code in sorted(counts)
        if counts[code]["results"]
    ]
    return {"rows": rows, "totals": _lab_row(totals, found, TOTAL)}


def _lab_percentiles(
    scope: Scope, period: Period, counts: dict[str, dict[str, int]], results: int
) -> dict[tuple[Any, float], float]:
    facts = _facts(LabTurnaround, scope, period)
    if connection.vendor != "postgresql":
        figures = {"m50": PercentileCont("minutes", 0.5), "m90": PercentileCont("minutes", 0.9)}
        rows = [*_grouped(facts, F("service_code"), figures), {"key": TOTAL, **facts.aggregate(
            **figures)}]  # fmt: skip
        return {
            (row["key"], fraction): row[name]
            for row in rows
            for fraction, name in ((0.5, "m50"), (0.9, "m90"))
        }
    grouped = percentiles_by_rank(
        _population(LabTurnaround, scope, period, "minutes", "service_code", "text"),
        {code: row["results"] for code, row in counts.items()},
        (0.5, 0.9),
    )
    total = percentiles_by_rank(
        _population(LabTurnaround, scope, period, "minutes"), {TOTAL: results}, (0.5, 0.9)
    )
    return grouped | total


def _lab_row(
    counts: dict[str, int], found: dict[tuple[Any, float], float], key: Any, **row: Any
) -> dict[str, Any]:
    return {
        **row,
        "results": counts["results"],
        "median_minutes": _round(found.get((key, 0.5))),
        "p90_minutes": _round(found.get((key, 0.9))),
        "critical": counts["critical"],
    }


def revenue_report(*, scope: Scope, period: Period, group_by: str) -> dict[str, Any]:
    """Billed, claimed, approved, paid and outstanding (billed - paid) per key and currency."""
    key = {"day": "day", "payer": "payer", "service": "service_code"}[group_by]
    grouped = [
        {**row, "key": row.pop(key)}
        for row in _days(RevenueDay, scope, period)
        .values(key, "currency")
        .annotate(**{kind: Sum(kind) for kind in REVENUE_KINDS})
        .order_by()
        if any(row[kind] for kind in REVENUE_KINDS)
    ]
    rows = [
        {group_by: _revenue_key(group_by, row["key"]), "currency": row["currency"], **_money(row)}
        for row in grouped
    ]
    rows.sort(key=lambda row: (str(row[group_by]), row["currency"]))
    return {"rows": rows, "totals": _revenue_totals(grouped)}


def _revenue_totals(grouped: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums of the grouped rows (each key falls in exactly one row, so no second scan); one
    currency gives one total, several give none: the rows per currency are the figures."""
    currencies = {row["currency"] for row in grouped}
    if len(currencies) > 1:
        return {"currency": None, **dict.fromkeys((*REVENUE_KINDS, "outstanding"))}
    sums = {kind: sum(row[kind] or 0 for row in grouped) for kind in REVENUE_KINDS}
    return {"currency": next(iter(currencies), None), **_money(sums)}


def _grouped(qs: QuerySet[Any], key: Any, figures: dict[str, Any]) -> list[dict[str, Any]]:
    return list(qs.annotate(key=key).values("key").annotate(**figures).order_by("key"))


def _days(model: type[ScopedModel], scope: Scope, period: Period) -> QuerySet[Any]:
    """The rollup rows of the period's local days."""
    return model.objects.for_scope(scope).filter(day__gte=period.first, day__lte=period.last)


def _facts(model: type[ScopedModel], scope: Scope, period: Period) -> QuerySet[Any]:
    """The fact rows of the period's local days."""
    return model.objects.for_scope(scope).filter(day__gte=period.first, day__lte=period.last)


def _population(
    model: type[ScopedModel],
    scope: Scope,
    period: Period,
    column: str,
    key: str | None = None,
    key_type: str = "text",
    extra: str = "",
) -> Population:
    where = "tenant_id = %s AND facility_id = %s AND day >= %s AND day <= %s"
    return Population(
        table=model._meta.db_table,
        value=column,
        where=f"{where} AND {extra}" if extra else where,
        params=(scope.tenant_id, scope.facility_id, period.first, period.last),
        key=key,
        key_type=key_type,
    )


def _opd_key(key: Any) -> Any:
    return None if key == NOBODY else key


def _revenue_key(group_by: str, key: Any) -> Any:
    if group_by == "service" and key == UNALLOCATED:
        return UNALLOCATED_LABEL
    return _plain(key)


def _opd_row(
    group_by: str | None, key: Any, counts: dict[str, int], medians: dict[str, float | None]
) -> dict[str, Any]:
    row = {group_by: _plain(key)} if group_by else {}
    return {
        **row,
        **{name: counts[name] for name in ("encounters", "closed", "cancelled", "no_shows")},
        "median_wait_minutes": _round(medians["wait"]),
        "median_visit_minutes": _round(medians["visit"]),
    }


def _money(row: dict[str, Any]) -> dict[str, str]:
    """Cents as Decimal strings to the cent."""
    amounts = {kind: Decimal(row[kind] or 0).scaleb(-2) for kind in REVENUE_KINDS}
    amounts["outstanding"] = amounts["billed"] - amounts["paid"]
    return {kind: str(value) for kind, value in amounts.items()}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _round(value) if isinstance(value, float) else value for name, value in row.items()
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _plain(value: Any) -> Any:
    if isinstance(value, date | uuid.UUID):
        return str(value)
    return value


def _sorted_keys(keys: set[Any], *, none_last: Any) -> list[Any]:
    return sorted(keys, key=lambda k: (k == none_last, str(k)))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day (a midnight skipped by DST maps to the jump itself)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
