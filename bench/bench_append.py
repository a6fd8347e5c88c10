"""Benchmark 1: event append through the real command path versus raw single-row INSERTs.

One command is `encounter_record_assessment` (services → bus.publish): tenant append lock,
version check, one event row, the encounter projection, the timeline entry and the audit record
in one transaction, then (embedded mode, no broker) the in-process drain of the async webhooks
subscription after commit. Its baseline is a single-row autocommit INSERT of a row of the same
size into a scratch table with psycopg: the floor any append path pays (one WAL flush).

Writers are processes (no shared GIL), each with its own connection, started together at an
agreed wall-clock instant. Variants: 1 writer; 8 writers on 8 tenants; 8 writers on one tenant
(they queue on its append lock); and 1 writer with the after-commit drain switched off, which
shows what that drain costs.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from typing import Any

from bench.common import (
    BENCH_DB,
    django_setup,
    dsn,
    load_average,
    ms,
    percentile,
    say,
    scale,
    table,
)

WRITERS = 8
RAW_TABLE = "bench_raw_append"


@dataclass(frozen=True)
class Task:
    """What one writer process does in one variant."""

    kind: str  # "command", "raw" or "ping" (answer once set up)
    tenant: str = ""
    encounter_id: str = ""
    drain: bool = True
    body: str = ""
    start_at: float = 0.0
    seconds: float = 0.0


@dataclass
class WriterResult:
    count: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds the writer process itself spent (Python, psycopg)
    latencies: list[float] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Variant:
    label: str
    tasks: list[Task]


@dataclass
class Outcome:
    variant: str
    round: int
    writers: int
    count: int
    per_second: float
    p50: float
    p99: float
    cpu_per_op: float
    stored: int | None
    errors: list[str]


# ---------------------------------------------------------------------------- writer processes


def _writer(inbox: Queue[Task | None], outbox: Queue[WriterResult]) -> None:
    """A long-lived writer: set Django up once, then run each task it is sent."""
    django_setup(BENCH_DB)
    from hm_core.events import broker

    real_wake = broker.wake
    scopes: dict[str, Any] = {}
    raw_conn: Any = None
    while (task := inbox.get()) is not None:
        try:
            if task.kind == "ping":
                outbox.put(WriterResult())
            elif task.kind == "command":
                broker.wake = real_wake if task.drain else _no_wake  # type: ignore[assignment]
                outbox.put(_run_commands(task, scopes))
            else:
                raw_conn = raw_conn or _raw_connection()
                outbox.put(_run_raw(task, raw_conn))
        except Exception as exc:  # report, never hang the parent
            outbox.put(WriterResult(error=f"{type(exc).__name__}: {exc}"))
    broker.wake = real_wake


def _no_wake(tenant_id: uuid.UUID) -> None:
    """Stand-in for broker.wake in the variant that measures the transaction alone."""


def _run_commands(task: Task, scopes: dict[str, Any]) -> WriterResult:
    from bench.world import scope_for, tenant_info
    from hm_core.encounters.services import encounter_record_assessment

    if task.tenant not in scopes:
        scopes[task.tenant] = scope_for(tenant_info(task.tenant), "doctor", "bench-append")
    scope = scopes[task.tenant]
    encounter_id = uuid.UUID(task.encounter_id)
    result = WriterResult()
    first, end = _window(task)
    cpu = time.process_time()
    while (begin := time.perf_counter()) < end:
        encounter_record_assessment(
            scope=scope, encounter_id=encounter_id, assessment=f"Viral URTI, note {result.count}"
        )
        result.latencies.append(time.perf_counter() - begin)
        result.count += 1
    result.seconds = time.perf_counter() - first
    result.cpu = time.process_time() - cpu
    return result


def _raw_connection() -> Any:
    import psycopg

    return psycopg.connect(dsn(BENCH_DB), autocommit=True)


def _run_raw(task: Task, conn: Any) -> WriterResult:
    sql = f"INSERT INTO {RAW_TABLE} (id, body) VALUES (%s, %s::jsonb)"
    result = WriterResult()
    first, end = _window(task)
    cpu = time.process_time()
    while (begin := time.perf_counter()) < end:
        conn.execute(sql, (uuid.uuid4(), task.body))
        result.latencies.append(time.perf_counter() - begin)
        result.count += 1
    result.seconds = time.perf_counter() - first
    result.cpu = time.process_time() - cpu
    return result


def _window(task: Task) -> tuple[float, float]:
    """Sleep until the agreed wall-clock start; the (perf_counter) start and end of the run.

    A writer that arrives late still stops at the common end, and its rate counts only the
    time it actually ran.
    """
    delay = task.start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    first = time.perf_counter()
    return first, first + max(task.start_at + task.seconds - time.time(), 0.0)


# ---------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class Prepared:
    own: list[tuple[str, str]]  # (tenant slug, encounter id) per writer, one tenant each
    shared: list[tuple[str, str]]  # (tenant slug, encounter id) per writer, all one tenant
    body: str
    event_bytes: int
    raw_bytes: int


def prepare() -> Prepared:
    """Eight tenants with a visit in consultation each, eight more visits in tenant 0, and the
    scratch table; all made through the services before the clock starts."""
    from django.db import connection

    from bench.world import encounter_in_consult, new_mrn, scope_for, tenants_ensure

    started = time.perf_counter()
    slugs = [f"append{i}" for i in range(WRITERS)]
    infos = tenants_ensure(slugs)
    say(f"  {len(slugs)} tenants via bootstrap_demo in {time.perf_counter() - started:.1f}s")
    own, shared = [], []
    for slug in slugs:
        nurse, doctor = scope_for(infos[slug], "nurse"), scope_for(infos[slug], "doctor")
        own.append((slug, str(encounter_in_consult(nurse, doctor, mrn=new_mrn("APP")))))
    nurse, doctor = scope_for(infos[slugs[0]], "nurse"), scope_for(infos[slugs[0]], "doctor")
    for _ in range(WRITERS):
        shared.append((slugs[0], str(encounter_in_consult(nurse, doctor, mrn=new_mrn("SHR")))))
    _warm_up(own + shared)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload::text, pg_column_size(e.*) FROM events_event e "
            "WHERE type = 'encounter.assessment_recorded' ORDER BY position DESC LIMIT 1"
        )
        payload, event_bytes = cursor.fetchone()
        cursor.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        cursor.execute(f"CREATE TABLE {RAW_TABLE} (id uuid PRIMARY KEY, body jsonb NOT NULL)")
        body, pad = payload, 0
        for _ in range(4):  # pad the event's payload until the raw row is as big as the event row
            raw_bytes = _raw_row_size(cursor, body)
            if abs(raw_bytes - event_bytes) <= 2:
                break
            pad = max(pad + event_bytes - raw_bytes, 0)
            body = json.dumps({"payload": json.loads(payload), "pad": "x" * pad})
        cursor.execute(f"TRUNCATE {RAW_TABLE}")
    connection.close()
    return Prepared(own, shared, body, int(event_bytes), int(raw_bytes))


def _raw_row_size(cursor: Any, body: str) -> int:
    cursor.execute(
        f"INSERT INTO {RAW_TABLE} VALUES (%s, %s::jsonb) RETURNING pg_column_size({RAW_TABLE}.*)",
        [uuid.uuid4(), body],
    )
    return int(cursor.fetchone()[0])


def _warm_up(visits: list[tuple[str, str]]) -> None:
    """One assessment per visit, so every variant starts on warm rows and plans."""
    from bench.world import scope_for, tenant_info
    from hm_core.encounters.services import encounter_record_assessment

    for slug, encounter_id in visits:
        scope = scope_for(tenant_info(slug), "doctor")
        encounter_record_assessment(
            scope=scope, encounter_id=uuid.UUID(encounter_id), assessment="warm-up"
        )


def variants(prepared: Prepared, seconds: float) -> list[Variant]:
    def commands(visits: list[tuple[str, str]], *, drain: bool = True) -> list[Task]:
        return [
            Task(kind="command", tenant=slug, encounter_id=eid, drain=drain, seconds=seconds)
            for slug, eid in visits
        ]

    def raw(writers: int) -> list[Task]:
        return [Task(kind="raw", body=prepared.body, seconds=seconds)] * writers

    return [
        Variant("raw INSERT, 1 writer", raw(1)),
        Variant("command, 1 writer", commands(prepared.own[:1])),
        Variant(
            "command, 1 writer, no after-commit drain", commands(prepared.own[:1], drain=False)
        ),
        Variant("command, 8 writers, 8 tenants", commands(prepared.own)),
        Variant("command, 8 writers, 1 tenant", commands(prepared.shared)),
        Variant("raw INSERT, 8 writers", raw(WRITERS)),
    ]


# ---------------------------------------------------------------------------- running


def stored_events() -> int:
    """Events in the whole store: the check that each command appended exactly one."""
    import psycopg

    with psycopg.connect(dsn(BENCH_DB)) as conn:
        row = conn.execute("SELECT COALESCE(SUM(position), 0) FROM events_tenant_head").fetchone()
    return int(row[0]) if row else 0


def run_variant(
    variant: Variant,
    round_no: int,
    inboxes: list[Queue[Task | None]],
    outbox: Queue[WriterResult],
) -> Outcome:
    """Hand the variant's tasks to the first writers, all starting at one instant."""
    before = stored_events() if variant.tasks[0].kind == "command" else None
    start_at = time.time() + 0.5
    for inbox, task in zip(inboxes, variant.tasks, strict=False):
        inbox.put(Task(**{**task.__dict__, "start_at": start_at}))
    results = [outbox.get(timeout=task.seconds + 120) for task in variant.tasks]
    count = sum(r.count for r in results)
    latencies = [lat for r in results for lat in r.latencies]
    per_second = sum(r.count / r.seconds for r in results if r.seconds > 0)
    stored = stored_events() - before if before is not None else None
    return Outcome(
        variant=variant.label,
        round=round_no,
        writers=len(variant.tasks),
        count=count,
        per_second=per_second,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        cpu_per_op=sum(r.cpu for r in results) / count if count else 0.0,
        stored=stored,
        errors=[r.error for r in results if r.error],
    )


def warm_up_writers(
    prepared: Prepared, inboxes: list[Queue[Task | None]], outbox: Queue[WriterResult]
) -> None:
    """Let every writer set Django up, build its scopes and run each kind of work briefly, so
    that no measured window pays for a cold process."""
    for inbox in inboxes:
        inbox.put(Task(kind="ping"))
    for _ in inboxes:
        outbox.get(timeout=180)
    warm = [
        Variant(
            "warm own",
            [Task(kind="command", tenant=s, encounter_id=e, seconds=0.5) for s, e in prepared.own],
        ),
        Variant(
            "warm shared",
            [
                Task(kind="command", tenant=s, encounter_id=e, seconds=0.5)
                for s, e in prepared.shared
            ],
        ),
        Variant("warm raw", [Task(kind="raw", body=prepared.body, seconds=0.5)] * WRITERS),
    ]
    for variant in warm:
        outcome = run_variant(variant, 0, inboxes, outbox)
        if outcome.errors:
            raise RuntimeError(f"warm-up failed: {outcome.errors[:3]}")


def best(outcomes: list[Outcome], label: str) -> Outcome:
    """The least-disturbed round of a variant (highest rate): noise only ever slows a run."""
    return max((o for o in outcomes if o.variant == label), key=lambda o: o.per_second)


def report(outcomes: list[Outcome], prepared: Prepared) -> None:
    rows = [
        [
            o.variant,
            o.round,
            o.writers,
            o.count,
            f"{o.per_second:.0f}" if o.per_second >= 100 else f"{o.per_second:.1f}",
            ms(o.p50),
            ms(o.p99),
            ms(o.cpu_per_op),
            "-" if o.stored is None else ("ok" if o.stored == o.count else f"{o.stored}!"),
        ]
        for o in outcomes
    ]
    say(
        table(
            [
                "variant",
                "round",
                "writers",
                "events",
                "ev/s",
                "p50 ms",
                "p99 ms",
                "client CPU ms/op",
                "1 ev/cmd",
            ],
            rows,
        )
    )
    say(
        f"row size: event {prepared.event_bytes} B (events_event), raw {prepared.raw_bytes} B "
        f"({RAW_TABLE}: the event's payload, padded); headline: best round of each variant"
    )
    one, eight = (
        best(outcomes, "command, 1 writer"),
        best(outcomes, "command, 8 writers, 8 tenants"),
    )
    shared = best(outcomes, "command, 8 writers, 1 tenant")
    quiet = best(outcomes, "command, 1 writer, no after-commit drain")
    raw1, raw8 = best(outcomes, "raw INSERT, 1 writer"), best(outcomes, "raw INSERT, 8 writers")
    say(
        f"append: 1 writer {one.per_second:.0f} ev/s, 8 writers {eight.per_second:.0f} ev/s "
        f"(8 tenants) / {shared.per_second:.0f} ev/s (1 tenant), no drain "
        f"{quiet.per_second:.0f} ev/s; raw INSERT 1 writer {raw1.per_second:.0f} rows/s, "
        f"8 writers {raw8.per_second:.0f} rows/s; ratio {one.per_second / raw1.per_second:.2f} "
        f"(1 writer) / {eight.per_second / raw8.per_second:.2f} (8 writers)"
    )


def main() -> None:
    sc = scale()
    say(
        f"== append: command path vs raw INSERT ({sc.append_seconds:.0f}s per variant, "
        f"{sc.append_rounds} round(s), {load_average()})"
    )
    django_setup(BENCH_DB)
    prepared = prepare()
    ctx = mp.get_context("spawn")
    outbox: Queue[WriterResult] = ctx.Queue()
    inboxes: list[Queue[Task | None]] = [ctx.Queue() for _ in range(WRITERS)]
    workers = [ctx.Process(target=_writer, args=(inbox, outbox)) for inbox in inboxes]
    for worker in workers:
        worker.start()
    outcomes: list[Outcome] = []
    try:
        warm_up_writers(prepared, inboxes, outbox)
        for round_no in range(1, sc.append_rounds + 1):
            for variant in variants(prepared, sc.append_seconds):
                outcomes.append(run_variant(variant, round_no, inboxes, outbox))
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for worker in workers:
            worker.join(timeout=30)
    errors = [e for o in outcomes for e in o.errors]
    if errors:
        say(f"WRITER ERRORS: {errors[:5]}")
    report(outcomes, prepared)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
