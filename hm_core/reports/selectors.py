"""Report read use-cases: every figure is aggregated by the database over the report tables.

A period is a range of whole days in the facility's time zone, turned into a half-open range of
UTC instants [first day 00:00, day after the last 00:00); rows are grouped by the local day
with the database's own time-zone conversion, so DST days have 23 or 25 hours as they should.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate

from hm_core.common.scope import Scope
from hm_core.iam.selectors import facility_time_zone
from hm_core.reports.models import (
    LabTurnaround,
    OpdNoShow,
    OpdVisit,
    RevenueEntry,
)
from hm_core.reports.percentile import PercentileCont

OPD_GROUPS = ("day", "practitioner")
REVENUE_GROUPS = ("day", "payer", "service")
REVENUE_KINDS = ("billed", "claimed", "approved", "paid")
CENTS = Decimal("0.01")


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
    visits = OpdVisit.objects.for_scope(scope).filter(at__gte=period.start, at__lt=period.end)
    no_shows = OpdNoShow.objects.for_scope(scope).filter(at__gte=period.start, at__lt=period.end)
    figures = {
        "encounters": Count("pk"),
        "closed": Count("pk", filter=Q(status="CLOSED")),
        "cancelled": Count("pk", filter=Q(status="CANCELLED")),
        "median_wait_minutes": PercentileCont("wait_minutes", 0.5),
        "median_visit_minutes": PercentileCont("visit_minutes", 0.5),
    }
    key = _key_expression(group_by, period)
    grouped = {row.pop("key"): row for row in _grouped(visits, key, figures)}
    missed = {row["key"]: row["n"] for row in _grouped(no_shows, key, {"n": Count("pk")})}
    rows = [
        _opd_row(group_by, key_value, grouped.get(key_value), missed.get(key_value, 0))
        for key_value in _sorted_keys(set(grouped) | set(missed))
    ]
    totals = _opd_row(None, None, visits.aggregate(**figures), no_shows.count())
    return {"rows": rows, "totals": totals}


def lab_turnaround_report(*, scope: Scope, period: Period) -> dict[str, Any]:
    """Per service code: results released, median and p90 minutes from order, critical ones."""
    released = LabTurnaround.objects.for_scope(scope).filter(
        released_at__gte=period.start, released_at__lt=period.end
    )
    figures = {
        "results": Count("pk"),
        "median_minutes": PercentileCont("minutes", 0.5),
        "p90_minutes": PercentileCont("minutes", 0.9),
        "critical": Count("pk", filter=Q(critical=True)),
    }
    rows = [
        {"service_code": row.pop("key"), **_rounded(row)}
        for row in _grouped(released, F("service_code"), figures)
    ]
    return {"rows": rows, "totals": _rounded(released.aggregate(**figures))}


def revenue_report(*, scope: Scope, period: Period, group_by: str) -> dict[str, Any]:
    """Billed, claimed, approved, paid and outstanding (billed - paid) per key and currency."""
    entries = RevenueEntry.objects.for_scope(scope).filter(
        at__gte=period.start, at__lt=period.end, kind__in=REVENUE_KINDS
    )
    figures = {
        kind: Coalesce(Sum("amount", filter=Q(kind=kind)), Value(Decimal("0")))
        for kind in REVENUE_KINDS
    }
    key = _revenue_key(group_by, period)
    grouped = list(
        entries.annotate(key=key)
        .values("key", "currency")
        .annotate(**figures)
        .order_by("key", "currency")
    )
    rows = [
        {group_by: _plain(row["key"]), "currency": row["currency"], **_money(row)}
        for row in grouped
    ]
    rows.sort(key=lambda row: (row[group_by] is None, str(row[group_by]), row["currency"]))
    return {"rows": rows, "totals": _revenue_totals(grouped)}


def _revenue_totals(grouped: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums of the grouped rows (each key falls in exactly one row, so no second scan); one
    currency gives one total, several give none: the rows per currency are the figures."""
    currencies = {row["currency"] for row in grouped}
    if len(currencies) > 1:
        return {"currency": None, **dict.fromkeys((*REVENUE_KINDS, "outstanding"))}
    sums = {kind: sum((row[kind] for row in grouped), Decimal("0")) for kind in REVENUE_KINDS}
    return {"currency": next(iter(currencies), None), **_money(sums)}


def _grouped(qs: QuerySet[Any], key: Any, figures: dict[str, Any]) -> list[dict[str, Any]]:
    return list(qs.annotate(key=key).values("key").annotate(**figures).order_by("key"))


def _key_expression(group_by: str, period: Period) -> Any:
    if group_by == "day":
        return TruncDate("at", tzinfo=period.zone)
    return F("practitioner_id")


def _revenue_key(group_by: str, period: Period) -> Any:
    if group_by == "day":
        return TruncDate("at", tzinfo=period.zone)
    if group_by == "service":
        return NullIf(F("service_code"), Value(""))
    return F("payer")


def _opd_row(
    group_by: str | None, key: Any, figures: dict[str, Any] | None, no_shows: int
) -> dict[str, Any]:
    figures = figures or {}
    row = {group_by: _plain(key)} if group_by else {}
    return {
        **row,
        "encounters": figures.get("encounters", 0),
        "closed": figures.get("closed", 0),
        "cancelled": figures.get("cancelled", 0),
        "no_shows": no_shows,
        "median_wait_minutes": _round(figures.get("median_wait_minutes")),
        "median_visit_minutes": _round(figures.get("median_visit_minutes")),
    }


def _money(row: dict[str, Any]) -> dict[str, str]:
    amounts = {kind: Decimal(row[kind]).quantize(CENTS) for kind in REVENUE_KINDS}
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


def _sorted_keys(keys: set[Any]) -> list[Any]:
    return sorted(keys, key=lambda k: (k is None, str(k)))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day (a midnight skipped by DST maps to the jump itself)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
