"""Benchmark: the three reports (contract §16) over one year of a 1,000-visits-a-day facility.

The report tables are filled by COPY with what a year of events would have projected into
them (the projections themselves are proven row for row against the events by the tests, and
`rebuild_projections` rebuilds them from events): per day 1,000 visits (5 % cancelled, most
closed, waits and visit lengths drawn from skewed distributions, 20 practitioners), 40
no-shows, 450 lab tests over 12 codes (2 % critical) and their revenue entries (charges,
claims for 40 % of visits, approvals, payments). A second facility of the same tenant holds a
fifth as much, so every query must select its facility by index. The facility keeps its days in
Europe/London, so day grouping runs the time-zone conversion on every row.

The day rollups are then summed from those rows by `rollups_recompute` (what the
projections keep incrementally), and the year's totals are checked against the same figures
aggregated directly from the rows (percentile_cont over every value): the bench fails unless
they are equal. Each report is timed through its selector (what its endpoint runs) for the
whole year and for the last 30 days; p50 and p99 over the samples, and the plan's indexes.
Goal: p99 < 200 ms. Own scratch database, dropped at the end (BENCH_KEEP_DB=1 keeps it).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import PYTHON, REPO, django_env, dsn, ms, percentile, say, scale, table
from bench.plans import captured_sql, explain

VISITS_PER_DAY, NO_SHOWS_PER_DAY, LAB_PER_DAY = 1_000, 40, 450
CODES = ("CBC", "CRP", "K", "NA", "GLU", "HBA1C", "TSH", "ALT", "CREA", "UREA", "LIPID", "INR")
PRACTITIONERS = 20
ZONE = ZoneInfo("Europe/London")
GOAL_MS = 200.0


def create_db(name: str) -> None:
    import subprocess

    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO,
        env=django_env(name),
        check=True,
    )


def drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------- generation


def ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def opt(value: Any) -> str:
    return "\\N" if value is None else str(value)


def local(value: datetime) -> str:
    """The facility's local day of an instant (what the projections store in `day`)."""
    return value.astimezone(ZONE).date().isoformat()


def day_rows(
    rng: random.Random, day: date, tenant: uuid.UUID, facility: uuid.UUID, share: float
) -> dict[str, list[str]]:
    """COPY lines of one local day of one facility, per report table."""
    out: dict[str, list[str]] = {"visit": [], "noshow": [], "lab": [], "rev": [], "payer": []}
    opens = datetime(day.year, day.month, day.day, 8, tzinfo=ZONE)
    doctors = [uuid.UUID(int=n + 1) for n in range(PRACTITIONERS)]
    payers = [uuid.UUID(int=1000 + n) for n in range(6)]
    for _ in range(int(VISITS_PER_DAY * share)):
        _visit(rng, out, opens, tenant, facility, doctors, payers)
    for _ in range(int(NO_SHOWS_PER_DAY * share)):
        at = opens + timedelta(minutes=rng.randrange(600))
        out["noshow"].append(
            f"{tenant}\t{facility}\t{uuid.uuid4()}\t{rng.choice(doctors)}\t{ts(at)}\t{local(at)}\n"
        )
    for _ in range(int(LAB_PER_DAY * share)):
        placed = opens + timedelta(minutes=rng.randrange(600))
        minutes = rng.lognormvariate(4.0, 0.6)
        released = placed + timedelta(minutes=minutes)
        critical = "t" if rng.random() < 0.02 else "f"
        out["lab"].append(
            f"{tenant}\t{facility}\t{uuid.uuid4()}\t{uuid.uuid4()}\t{rng.choice(CODES)}\t"
            f"{ts(placed)}\t{ts(released)}\t{local(released)}\t{critical}\t{minutes}\n"
        )
    return out


def _visit(
    rng: random.Random,
    out: dict[str, list[str]],
    opens: datetime,
    tenant: uuid.UUID,
    facility: uuid.UUID,
    doctors: list[uuid.UUID],
    payers: list[uuid.UUID],
) -> None:
    eid = uuid.uuid4()
    arrived = opens + timedelta(minutes=rng.randrange(600))
    cancelled = rng.random() < 0.05
    wait = None if cancelled else rng.expovariate(1 / 22)
    visit = None if cancelled or rng.random() < 0.03 else wait + rng.uniform(8, 40)  # type: ignore[operator]
    status = "CANCELLED" if cancelled else ("CLOSED" if visit is not None else "IN_CONSULT")
    doctor = None if cancelled else rng.choice(doctors)
    consult = None if wait is None else arrived + timedelta(minutes=wait)
    closed = None if visit is None else arrived + timedelta(minutes=visit)
    out["visit"].append(
        f"{tenant}\t{facility}\t{eid}\t{opt(doctor)}\tf\t{status}\t{ts(arrived)}\t{ts(arrived)}\t"
        f"{opt(consult and ts(consult))}\t{opt(closed and ts(closed))}\t"
        f"{opt(ts(arrived) if cancelled else None)}\t{ts(arrived)}\t{local(arrived)}\t"
        f"{opt(wait)}\t{opt(visit)}\n"
    )
    if cancelled:
        return
    lines = [("CONSULT", "50.00")] + [
        (rng.choice(CODES), f"{rng.randrange(5, 40)}.00") for _ in range(rng.choice((0, 0, 1, 2)))
    ]
    claim = uuid.uuid4() if rng.random() < 0.4 else None
    payer = str(rng.choice(payers)) if claim else "patient"
    rev = f"{tenant}\t{facility}\t{{}}\t{{}}\t{eid}\t{{}}\t{{}}\t{{}}\tUSD\t{{}}\t{{}}\t{payer}\n"

    def entry(entry_id: str, kind: str, claim: Any, code: str, amount: str, at: datetime) -> str:
        return rev.format(entry_id, kind, claim, code, amount, ts(at), local(at))

    for n, (code, amount) in enumerate(lines):
        out["rev"].append(entry(f"billed:{eid}:{n}", "billed", "\\N", code, amount, arrived))
    paid_at = arrived + timedelta(minutes=90)
    if claim is not None:
        out["payer"].append(f"{tenant}\t{facility}\t{eid}\t{payer}\t{claim}\n")
        later = arrived + timedelta(days=rng.randrange(1, 20))
        for n, (code, amount) in enumerate(lines, start=1):
            approved = amount if rng.random() < 0.8 else "0.00"
            out["rev"].append(entry(f"claimed:{claim}:{n}", "claimed", claim, code, amount, later))
            out["rev"].append(
                entry(
                    f"approved:{claim}:{n}",
                    "approved",
                    claim,
                    code,
                    approved,
                    later + timedelta(days=3),
                )
            )
        paid_at = later + timedelta(days=10)
    # One payment of the whole invoice, spread over its services as the projection does.
    per_service: dict[str, int] = {}
    for code, amount in lines:
        per_service[code] = per_service.get(code, 0) + int(amount.replace(".", ""))
    payment = uuid.uuid4()
    for code, whole in per_service.items():
        out["rev"].append(
            entry(f"paid:{payment}:{code}", "paid", "\\N", code, f"{whole / 100:.2f}", paid_at)
        )


COLUMNS = {
    "visit": "reports_opdvisit (tenant_id, facility_id, encounter_id, practitioner_id, "
    "practitioner_from_appointment, status, scheduled_at, checked_in_at, consult_started_at, "
    "closed_at, cancelled_at, at, day, wait_minutes, visit_minutes)",
    "noshow": "reports_opdnoshow (tenant_id, facility_id, appointment_id, practitioner_id, at, "
    "day)",
    "lab": "reports_labturnaround (tenant_id, facility_id, order_item_id, order_id, service_code, "
    "placed_at, released_at, day, critical, minutes)",
    "rev": "reports_revenueentry (tenant_id, facility_id, id, kind, encounter_id, claim_id, "
    "service_code, amount, currency, at, day, payer)",
    "payer": "reports_revenueencounterpayer "
    "(tenant_id, facility_id, encounter_id, payer, claim_id)",
}


def fill(
    db: str, tenant: uuid.UUID, facilities: list[tuple[uuid.UUID, float]], days: int, last: date
) -> dict[str, int]:
    """Generate `days` local days up to `last` of each facility once, spooled per table into
    temporary files, then COPY each file into its report table in one transaction."""
    import psycopg

    rng, counts = random.Random(16), dict.fromkeys(COLUMNS, 0)
    with tempfile.TemporaryDirectory(prefix="hm_bench_reports_") as spool:
        files = {key: open(Path(spool) / key, "w+", encoding="utf-8") for key in COLUMNS}  # noqa: SIM115
        try:
            for offset in range(days):
                day = last - timedelta(days=days - 1 - offset)
                for facility, share in facilities:
                    for key, lines in day_rows(rng, day, tenant, facility, share).items():
                        files[key].writelines(lines)
                        counts[key] += len(lines)
            with psycopg.connect(dsn(db)) as conn:
                for key, columns in COLUMNS.items():
                    files[key].seek(0)
                    with conn.cursor().copy(f"COPY {columns} FROM STDIN") as copy:
                        while chunk := files[key].read(1 << 20):
                            copy.write(chunk.encode())
                conn.commit()
                conn.autocommit = True
                for name in (
                    "opdvisit",
                    "opdnoshow",
                    "labturnaround",
                    "revenueentry",
                    "revenueencounterpayer",
                ):
                    conn.execute(f"VACUUM ANALYZE reports_{name}")
        finally:
            for handle in files.values():
                handle.close()
    return counts


def rollups_fill(db: str, tenant: uuid.UUID, facilities: list[uuid.UUID]) -> None:
    """The rollups the projections would have kept, summed by the database from the rows."""
    import psycopg

    from hm_core.common.scope import unscoped
    from hm_core.reports.rollups import rollups_recompute

    with unscoped("bench: filling the rollups of a generated year"):
        for facility in facilities:
            rollups_recompute(tenant_id=tenant, facility_id=facility)
    with psycopg.connect(dsn(db), autocommit=True) as conn:
        for name in ("opdday", "labday", "revenueday"):
            conn.execute(f"VACUUM ANALYZE reports_{name}")


def check_exact(scope: Any, last: date) -> str:
    """The year's reports against the same figures aggregated straight from the fact rows
    (percentile_cont over every value, sums over every entry): equal, or the bench fails."""
    from decimal import Decimal

    from django.db.models import Count, Q, Sum

    from hm_core.reports import selectors
    from hm_core.reports.models import LabTurnaround, OpdVisit, RevenueEntry
    from hm_core.reports.percentile import PercentileCont

    period = selectors.report_period(scope=scope, first=last - timedelta(364), last=last)
    days = {"day__gte": period.first, "day__lte": period.last}
    visits = OpdVisit.objects.for_scope(scope).filter(**days)
    lab = LabTurnaround.objects.for_scope(scope).filter(**days)
    money = RevenueEntry.objects.for_scope(scope).filter(**days, kind__in=selectors.REVENUE_KINDS)
    direct = {
        "opd": visits.aggregate(
            encounters=Count("pk"), closed=Count("pk", filter=Q(status="CLOSED")),
            median_wait_minutes=PercentileCont("wait_minutes", 0.5),
            median_visit_minutes=PercentileCont("visit_minutes", 0.5),
        ),
        "lab": lab.aggregate(
            results=Count("pk"), median_minutes=PercentileCont("minutes", 0.5),
            p90_minutes=PercentileCont("minutes", 0.9),
        ),
        "revenue": {k: Decimal(money.filter(kind=k).aggregate(s=Sum("amount"))["s"] or 0)
                    for k in selectors.REVENUE_KINDS},
    }  # fmt: skip
    opd = selectors.opd_report(scope=scope, period=period, group_by="practitioner")["totals"]
    labs = selectors.lab_turnaround_report(scope=scope, period=period)["totals"]
    revenue = selectors.revenue_report(scope=scope, period=period, group_by="service")["totals"]
    for name, figures in (("opd", opd), ("lab", labs)):
        for key, value in direct[name].items():
            expected = round(value, 2) if isinstance(value, float) else value
            if figures[key] != expected:
                raise SystemExit(f"{name} {key}: report {figures[key]} != rows {expected}")
    for kind, amount in direct["revenue"].items():
        if Decimal(revenue[kind]) != amount:
            raise SystemExit(f"revenue {kind}: report {revenue[kind]} != rows {amount}")
    return (
        f"exact: the year's totals equal the rows' direct aggregates (opd {opd['encounters']:,} "
        f"visits, median wait {opd['median_wait_minutes']}; lab p90 {labs['p90_minutes']}; "
        f"paid {revenue['paid']})"
    )


# ---------------------------------------------------------------------------- measuring


def measure(call: Callable[[], Any], samples: int) -> tuple[list[float], Any]:
    result = None
    for _ in range(3):
        result = call()  # warm the cache and the plan
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings, result


def cases(scope: Any, last: date) -> list[tuple[str, str, Callable[[], Any]]]:
    from hm_core.reports import selectors

    reports: list[tuple[str, Callable[..., Any], dict[str, str]]] = [
        ("opd by day", selectors.opd_report, {"group_by": "day"}),
        ("opd by practitioner", selectors.opd_report, {"group_by": "practitioner"}),
        ("lab turnaround", selectors.lab_turnaround_report, {}),
        ("revenue by day", selectors.revenue_report, {"group_by": "day"}),
        ("revenue by payer", selectors.revenue_report, {"group_by": "payer"}),
        ("revenue by service", selectors.revenue_report, {"group_by": "service"}),
    ]
    found = []
    for label, days in (("year", 365), ("30 days", 30)):
        period = selectors.report_period(scope=scope, first=last - timedelta(days - 1), last=last)
        for name, build, options in reports:
            call = partial(build, scope=scope, period=period, **options)
            found.append((label, name, call))
    return found


def run(db: str, days: int, samples: int) -> None:
    from bench.common import django_setup

    django_setup(db)
    from bench.world import scope_for, tenants_ensure
    from hm_core.common.scope import scope_active
    from hm_core.iam.models import Facility

    info = tenants_ensure(["reports"])["reports"]
    annex = Facility.objects.get(tenant_id=info.tenant_id, code="annex")
    Facility.objects.filter(tenant_id=info.tenant_id).update(time_zone=ZONE.key)
    last = datetime.now(tz=ZONE).date()
    started = time.perf_counter()
    counts = fill(db, info.tenant_id, [(info.facility_id, 1.0), (annex.id, 0.2)], days, last)
    say(
        f"generated in {time.perf_counter() - started:.0f}s: "
        + ", ".join(f"{n:,} {k}" for k, n in counts.items())
    )
    started = time.perf_counter()
    rollups_fill(db, info.tenant_id, [info.facility_id, annex.id])
    say(f"day rollups computed from those rows in {time.perf_counter() - started:.1f}s")
    scope = scope_for(info, "admin", "bench-reports")
    rows, worst = [], 0.0
    with scope_active(scope):
        say(check_exact(scope, last))
        for label, name, call in cases(scope, last):
            timings, result = measure(call, samples)
            plan_indexes = sorted({i for sql in captured_sql(call) for i in explain(sql).indexes})
            p99 = percentile(timings, 99) * 1000
            worst = max(worst, p99) if label == "year" else worst
            p50 = ms(percentile(timings, 50))
            indexes = ", ".join(plan_indexes) or "-"
            rows.append([label, name, len(result["rows"]), p50, ms(p99 / 1000), indexes])
    say(table(["range", "report", "rows", "p50 ms", "p99 ms", "indexes"], rows))
    verdict = "within" if worst < GOAL_MS else "OVER"
    say(
        f"reports: worst p99 {worst:.1f} ms over a year's range, {days} days of "
        f"{VISITS_PER_DAY:,} visits/day stored ({counts['visit']:,} visits, {counts['rev']:,} "
        f"revenue entries) — {verdict} the {GOAL_MS:.0f} ms goal"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=f"hm_core_bench_reports_{uuid.uuid4().hex[:8]}")
    parser.add_argument("--days", type=int, default=365 if scale().name == "full" else 45)
    parser.add_argument("--samples", type=int, default=60 if scale().name == "full" else 15)
    args = parser.parse_args()
    say(f"== reports: {args.days} days of {VISITS_PER_DAY:,} visits/day; database {args.db}")
    create_db(args.db)
    try:
        run(args.db, args.days, args.samples)
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            from django.db import connections

            connections.close_all()
            drop_db(args.db)


if __name__ == "__main__":
    main()
