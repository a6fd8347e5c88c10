"""Benchmark 1: a mix of real commands through the whole Django/Ninja stack vs raw INSERTs.

Each writer is a process (no shared GIL) with its own database connection that drives an OPD
visit's commands, again and again, through Django's request handler in-process (the test
`Client`: production settings, every middleware, JWT auth, Ninja, the services, the unit of
work, after-commit work; no socket, so HTTP parsing and gunicorn are left to the HTTP
benchmark): register a patient, read it, schedule, check in, record vitals, start the
consultation, order CBC+CRP from the LAB. Per command kind it records latency, the writer's
CPU, the CPU of *its PostgreSQL backend* (`/proc/<backend pid>/schedstat`, nanoseconds: the
server's own work for that connection) and the SQL statements sent (an execute wrapper, as
tests/perf/test_query_counts.py counts them: BEGIN/COMMIT not counted).

The baseline is a single-row autocommit INSERT of an event-sized row into a scratch table:
the floor any append pays (one WAL flush). Variants: the mix by 1 writer, the same with an
`Idempotency-Key` on every POST (and each registration sent twice: the second answer is a
replay), 8 writers on 8 tenants, 8 writers on one tenant (its append lock serialises them),
raw INSERT by 1 and by 8 writers. Variants are interleaved: every round runs each of them for
a short window, in a rotated order, so a noisy neighbour slows all of them alike; the figures
to read are ratios within this run, never absolute numbers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import time
import uuid
from collections import defaultdict
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
    ratio,
    say,
    scale,
    statements_sent,
    table,
)

WRITERS = 8
RAW_TABLE = "bench_raw_append"
# The command kinds, in the order of one visit; "register replay" only with Idempotency-Key.
KINDS = (
    "register",
    "patient read",
    "schedule",
    "check-in",
    "vitals",
    "start consult",
    "LAB order",
    "register replay",
)
# Issue 10's measurements on the code before the unit of work (statements per request).
BEFORE = {
    "register": 29,
    "check-in": 43,
    "vitals": 67,
    "start consult": 63,
    "LAB order": 153,
    "patient read": 5,
}
TARGET = {
    "register": 8,
    "check-in": 10,
    "vitals": 14,
    "start consult": 12,
    "LAB order": 20,
    "patient read": 3,
}
VITALS = {
    "blood_pressure_systolic": 122,
    "blood_pressure_diastolic": 78,
    "pulse": 72,
    "temperature": 98.6,
    "spo2": 98,
    "respiratory_rate": 16,
}


@dataclass(frozen=True)
class Task:
    """What one writer process does in one window."""

    kind: str  # "mix", "raw", "ping" (answer once set up) or "events" (events per kind)
    tenant: str = ""
    idempotency: bool = False
    body: str = ""
    start_at: float = 0.0
    seconds: float = 0.0


@dataclass
class Sample:
    kind: str
    seconds: float
    cpu: float  # the writer's CPU seconds
    pg_cpu: float  # its PostgreSQL backend's CPU seconds (nan when unreadable)
    statements: int


@dataclass
class WriterResult:
    count: int = 0
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)  # for "events" tasks
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
    cpu: float  # writer CPU ms per command
    pg_cpu: float  # backend CPU ms per command
    stored: int | None  # events appended during the window (commands only)
    expected: int | None  # events the commands should have appended
    samples: list[Sample]
    errors: list[str]


# ---------------------------------------------------------------------------- writer processes


class Backend:
    """CPU time of the PostgreSQL backend serving Django's connection (same machine, loopback):
    the first field of /proc/<pid>/schedstat, in nanoseconds."""

    def __init__(self) -> None:
        self.pid = 0

    def attach(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = int(cursor.fetchone()[0])

    def cpu(self) -> float:
        try:
            with open(f"/proc/{self.pid}/schedstat") as stat:
                return int(stat.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return float("nan")


class Visitor:
    """One tenant's nurse and doctor sending the visit's requests through Django in-process."""

    def __init__(self, slug: str) -> None:
        from django.test import Client
        from ninja_jwt.tokens import AccessToken

        from bench.world import tenant_info
        from hm_core.iam.models import User

        info = tenant_info(slug)
        self.client = Client(HTTP_HOST="127.0.0.1")
        self.headers = {}
        for role in ("nurse", "doctor"):
            user = User.objects.get(username=f"{role}@{slug}")
            self.headers[role] = {
                "Authorization": f"Bearer {AccessToken.for_user(user)}",
                "X-Tenant-ID": str(info.tenant_id),
                "X-Facility-ID": str(info.facility_id),
                "User-Agent": "hm-bench-append",
            }
        self.tenant_id = info.tenant_id

    def send(self, role: str, method: str, path: str, body: Any, key: str | None) -> Any:
        headers = dict(self.headers[role])
        if key:
            headers["Idempotency-Key"] = key
        if method == "GET":
            response = self.client.get(path, headers=headers)
        else:
            data = json.dumps(body if body is not None else {})
            response = self.client.post(
                path, data=data, content_type="application/json", headers=headers
            )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status_code}")
        return response.json()


def visit_steps(visitor: Visitor, idempotency: bool) -> Any:
    """The visit's commands as (kind, call) pairs, each call returning the JSON answer."""
    state: dict[str, Any] = {}

    def key() -> str | None:
        return str(uuid.uuid4()) if idempotency else None

    def register() -> Any:
        body = {
            "given_name": "Ada",
            "family_name": "Lovelace",
            "mrn": f"A-{uuid.uuid4().hex[:12]}",
            "date_of_birth": "1985-12-10",
            "gender": "F",
            "phone": "+44 20 7946 0000",
        }
        state["register"] = (body, key())
        state["patient"] = visitor.send(
            "nurse", "POST", "/api/patients/", body, state["register"][1]
        )
        return state["patient"]

    def replay() -> Any:
        body, sent_key = state["register"]
        again = visitor.send("nurse", "POST", "/api/patients/", body, sent_key)
        if again.get("id") != state["patient"]["id"]:
            raise RuntimeError("an Idempotency-Key replay answered another patient")
        return again

    def encounter(step: str, role: str, body: Any = None) -> Any:
        return visitor.send(
            role, "POST", f"/api/encounters/{state['encounter']}/{step}/", body, key()
        )

    def schedule() -> Any:
        body = {
            "patient": state["patient"]["id"],
            "reason": "Cough",
            "scheduled_at": "2030-01-01T09:00:00Z",
        }
        state["encounter"] = visitor.send("nurse", "POST", "/api/encounters/", body, key())["id"]
        return state["encounter"]

    def lab_order() -> Any:
        body = {
            "encounter": state["encounter"],
            "order_type": "LAB",
            "priority": "ROUTINE",
            "items": [{"service_code": "CBC"}, {"service_code": "CRP"}],
        }
        return visitor.send("doctor", "POST", "/api/orders/", body, key())

    steps = [
        ("register", register),
        (
            "patient read",
            lambda: visitor.send(
                "doctor", "GET", f"/api/patients/{state['patient']['id']}/", None, None
            ),
        ),
        ("schedule", schedule),
        ("check-in", lambda: encounter("check-in", "nurse")),
        ("vitals", lambda: encounter("vitals", "nurse", VITALS)),
        ("start consult", lambda: encounter("start-consult", "doctor")),
        ("LAB order", lab_order),
    ]
    if idempotency:
        steps.insert(1, ("register replay", replay))
    return steps


def _writer(inbox: Queue[Task | None], outbox: Queue[WriterResult]) -> None:
    """A long-lived writer: set Django up once, then run each task it is sent."""
    django_setup(BENCH_DB)
    visitors: dict[str, Visitor] = {}
    backend = Backend()
    raw_conn: Any = None
    while (task := inbox.get()) is not None:
        try:
            if task.kind == "ping":
                outbox.put(WriterResult())
            elif task.kind == "raw":
                raw_conn = raw_conn or _raw_connection()
                outbox.put(_run_raw(task, raw_conn))
            else:
                visitor = visitors.get(task.tenant) or visitors.setdefault(
                    task.tenant, Visitor(task.tenant)
                )
                if task.kind == "events":
                    outbox.put(_events_per_kind(visitor))
                else:
                    outbox.put(_run_mix(task, visitor, backend))
        except Exception as exc:  # report, never hang the parent
            outbox.put(WriterResult(error=f"{type(exc).__name__}: {exc}"))


def _run_mix(task: Task, visitor: Visitor, backend: Backend) -> WriterResult:
    backend.attach()
    pid = backend.pid
    result = WriterResult()
    first, end = _window(task)
    while time.perf_counter() < end:
        for kind, call in visit_steps(visitor, task.idempotency):
            result.samples.append(_measured(kind, call, backend))
            result.count += 1
            if time.perf_counter() >= end:
                break
    result.seconds = time.perf_counter() - first
    backend.attach()
    if backend.pid != pid:  # reconnected mid-window: the backend CPU is not this connection's
        for sample in result.samples:
            sample.pg_cpu = float("nan")
    return result


def _measured(kind: str, call: Any, backend: Backend) -> Sample:
    pg_before, cpu_before = backend.cpu(), time.process_time()
    begin = time.perf_counter()
    with statements_sent() as sent:
        call()
    seconds = time.perf_counter() - begin
    cpu = time.process_time() - cpu_before
    return Sample(kind, seconds, cpu, backend.cpu() - pg_before, len(sent.sql))


def _events_per_kind(visitor: Visitor) -> WriterResult:
    """Events each command kind appends (the tenant head's move), for the integrity check."""
    from hm_core.events.models import TenantEventHead

    def head() -> int:
        found = TenantEventHead.objects.filter(tenant_id=visitor.tenant_id).first()
        return found.position if found else 0

    result = WriterResult()
    for kind, call in visit_steps(visitor, idempotency=True):
        before = head()
        call()
        result.events[kind] = head() - before
    return result


def _raw_connection() -> Any:
    import psycopg

    return psycopg.connect(dsn(BENCH_DB), autocommit=True)


def _run_raw(task: Task, conn: Any) -> WriterResult:
    sql = f"INSERT INTO {RAW_TABLE} (id, body) VALUES (%s, %s::jsonb)"
    pid = conn.info.backend_pid
    backend = Backend()
    backend.pid = pid
    result = WriterResult()
    first, end = _window(task)
    while time.perf_counter() < end:
        pg_before, cpu_before, begin = backend.cpu(), time.process_time(), time.perf_counter()
        conn.execute(sql, (uuid.uuid4(), task.body))
        seconds = time.perf_counter() - begin
        cpu = time.process_time() - cpu_before
        result.samples.append(Sample("raw INSERT", seconds, cpu, backend.cpu() - pg_before, 1))
        result.count += 1
    result.seconds = time.perf_counter() - first
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
    tenants: list[str]
    body: str
    event_bytes: int
    raw_bytes: int


def prepare() -> Prepared:
    """Eight tenants from bootstrap_demo (users, catalog), one visit each through the services
    (warm rows and plans), and the scratch table with an event-sized row body."""
    from django.db import connection

    from bench.world import encounter_in_consult, new_mrn, scope_for, tenants_ensure

    started = time.perf_counter()
    slugs = [f"append{i}" for i in range(WRITERS)]
    infos = tenants_ensure(slugs)
    say(f"  {len(slugs)} tenants via bootstrap_demo in {time.perf_counter() - started:.1f}s")
    for slug in slugs:
        nurse, doctor = scope_for(infos[slug], "nurse"), scope_for(infos[slug], "doctor")
        encounter_in_consult(nurse, doctor, mrn=new_mrn("APP"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload::text, pg_column_size(e.*) FROM events_event e "
            "WHERE type = 'encounter.vitals_recorded' ORDER BY position DESC LIMIT 1"
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
    return Prepared(slugs, body, int(event_bytes), int(raw_bytes))


def _raw_row_size(cursor: Any, body: str) -> int:
    cursor.execute(
        f"INSERT INTO {RAW_TABLE} VALUES (%s, %s::jsonb) RETURNING pg_column_size({RAW_TABLE}.*)",
        [uuid.uuid4(), body],
    )
    return int(cursor.fetchone()[0])


def variants(prepared: Prepared, seconds: float) -> list[Variant]:
    def mix(tenants: list[str], *, idempotency: bool = False) -> list[Task]:
        return [
            Task(kind="mix", tenant=slug, idempotency=idempotency, seconds=seconds)
            for slug in tenants
        ]

    def raw(writers: int) -> list[Task]:
        return [Task(kind="raw", body=prepared.body, seconds=seconds)] * writers

    return [
        Variant("raw INSERT, 1 writer", raw(1)),
        Variant("mix, 1 writer", mix(prepared.tenants[:1])),
        Variant("mix + Idempotency-Key, 1 writer", mix(prepared.tenants[:1], idempotency=True)),
        Variant("mix, 8 writers, 8 tenants", mix(prepared.tenants)),
        Variant("mix, 8 writers, 1 tenant", mix(prepared.tenants[:1] * WRITERS)),
        Variant("raw INSERT, 8 writers", raw(WRITERS)),
    ]


# ---------------------------------------------------------------------------- running


def stored_events() -> int:
    """Events in the whole store (the sum of the tenant heads)."""
    import psycopg

    with psycopg.connect(dsn(BENCH_DB)) as conn:
        row = conn.execute("SELECT COALESCE(SUM(position), 0) FROM events_tenant_head").fetchone()
    return int(row[0]) if row else 0


def run_variant(
    variant: Variant,
    round_no: int,
    inboxes: list[Queue[Task | None]],
    outbox: Queue[WriterResult],
    events: dict[str, int],
) -> Outcome:
    """Hand the variant's tasks to the first writers, all starting at one instant."""
    commands = variant.tasks[0].kind == "mix"
    before = stored_events() if commands else None
    start_at = time.time() + 0.5
    for inbox, task in zip(inboxes, variant.tasks, strict=False):
        inbox.put(Task(**{**task.__dict__, "start_at": start_at}))
    results = [outbox.get(timeout=task.seconds + 180) for task in variant.tasks]
    samples = [s for r in results for s in r.samples]
    count = sum(r.count for r in results)
    latencies = [s.seconds for s in samples]
    pg = [s.pg_cpu for s in samples if s.pg_cpu == s.pg_cpu]  # nan-free
    return Outcome(
        variant=variant.label,
        round=round_no,
        writers=len(variant.tasks),
        count=count,
        per_second=sum(r.count / r.seconds for r in results if r.seconds > 0),
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        cpu=sum(s.cpu for s in samples) / count if count else float("nan"),
        pg_cpu=sum(pg) / len(pg) if pg else float("nan"),
        stored=stored_events() - before if before is not None else None,
        expected=sum(events.get(s.kind, 0) for s in samples) if commands else None,
        samples=samples,
        errors=[r.error for r in results if r.error],
    )


def warm_up_writers(
    prepared: Prepared, inboxes: list[Queue[Task | None]], outbox: Queue[WriterResult]
) -> dict[str, int]:
    """Let every writer set Django up and send each kind of work once (caches, plans,
    principals), and learn how many events each command kind appends."""
    for inbox in inboxes:
        inbox.put(Task(kind="ping"))
    for _ in inboxes:
        outbox.get(timeout=300)
    events: dict[str, int] = {}
    for inbox, slug in zip(inboxes, prepared.tenants, strict=True):
        inbox.put(Task(kind="events", tenant=slug))
    for _ in inboxes:
        result = outbox.get(timeout=300)
        if result.error:
            raise RuntimeError(f"warm-up failed: {result.error}")
        events = result.events
    for variant in variants(prepared, 0.5):
        if "8 writers" in variant.label:
            outcome = run_variant(variant, 0, inboxes, outbox, events)
            if outcome.errors:
                raise RuntimeError(f"warm-up failed: {outcome.errors[:3]}")
    return events


def rotated(items: list[Variant], by: int) -> list[Variant]:
    by %= len(items)
    return items[by:] + items[:by]


# ---------------------------------------------------------------------------- report


def median_of(outcomes: list[Outcome], label: str, attr: str) -> float:
    values = [getattr(o, attr) for o in outcomes if o.variant == label]
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _check(o: Outcome) -> str:
    if o.stored is None:
        return "-"
    return "ok" if o.stored == o.expected else f"{o.stored} vs {o.expected}!"


def report(outcomes: list[Outcome], prepared: Prepared, events: dict[str, int]) -> None:
    rows = [
        [
            o.variant,
            o.round,
            o.writers,
            o.count,
            _rate(o.per_second),
            ms(o.p50),
            ms(o.p99),
            ms(o.cpu),
            ms(o.pg_cpu),
            _check(o),
        ]
        for o in outcomes
    ]
    say(
        table(
            [
                "variant",
                "round",
                "writers",
                "commands",
                "cmd/s",
                "p50 ms",
                "p99 ms",
                "client CPU ms/cmd",
                "PG CPU ms/cmd",
                "events",
            ],
            rows,
        )
    )
    say(
        f"row size: event {prepared.event_bytes} B (a vitals event in events_event), raw "
        f"{prepared.raw_bytes} B ({RAW_TABLE}: its payload, padded); 'events': the store grew "
        "by exactly the events the commands append (measured per kind before the runs)"
    )
    say("")
    report_kinds(outcomes, events)


def report_kinds(outcomes: list[Outcome], events: dict[str, int]) -> None:
    """Per command kind, over every round of the 1-writer variants."""
    plain = _by_kind(outcomes, "mix, 1 writer")
    keyed = _by_kind(outcomes, "mix + Idempotency-Key, 1 writer")
    raw = _by_kind(outcomes, "raw INSERT, 1 writer")["raw INSERT"]
    rows = []
    for kind in (*KINDS, "raw INSERT"):
        samples = raw if kind == "raw INSERT" else plain.get(kind, [])
        with_key = keyed.get(kind, [])
        rows.append(
            [
                kind,
                len(samples) or len(with_key),
                ms(percentile([s.seconds for s in samples or with_key], 50)),
                ms(percentile([s.seconds for s in samples or with_key], 99)),
                ms(_mean([s.cpu for s in samples or with_key])),
                ms(_mean([s.pg_cpu for s in samples or with_key])),
                _statements(samples),
                _statements(with_key),
                events.get(kind, 1 if kind == "raw INSERT" else "-"),
                BEFORE.get(kind, "-"),
                TARGET.get(kind, "-"),
            ]
        )
    say("per command kind, 1 writer (every round; 'register replay' from the keyed variant):")
    say(
        table(
            [
                "command",
                "n",
                "p50 ms",
                "p99 ms",
                "client CPU ms",
                "PG CPU ms",
                "statements",
                "with key",
                "events",
                "before",
                "target",
            ],
            rows,
        )
    )
    say(
        "statements: per request through the whole stack, counted like "
        "tests/perf/test_query_counts.py (BEGIN/COMMIT not counted); 'with key': the same "
        "request with an Idempotency-Key; before: issue 10's count on the code before the unit "
        "of work; target: issue 10's"
    )


def _by_kind(outcomes: list[Outcome], label: str) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.variant == label:
            for sample in outcome.samples:
                found[sample.kind].append(sample)
    return found


def _mean(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return sum(values) / len(values) if values else float("nan")


def _statements(samples: list[Sample]) -> str:
    counts = sorted({s.statements for s in samples})
    if not counts:
        return "-"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def headline(outcomes: list[Outcome]) -> str:
    one = median_of(outcomes, "mix, 1 writer", "per_second")
    keyed = median_of(outcomes, "mix + Idempotency-Key, 1 writer", "per_second")
    eight = median_of(outcomes, "mix, 8 writers, 8 tenants", "per_second")
    shared = median_of(outcomes, "mix, 8 writers, 1 tenant", "per_second")
    cpu = median_of(outcomes, "mix, 1 writer", "cpu")
    pg = median_of(outcomes, "mix, 1 writer", "pg_cpu")
    raw_cpu = median_of(outcomes, "raw INSERT, 1 writer", "cpu")
    raw_pg = median_of(outcomes, "raw INSERT, 1 writer", "pg_cpu")
    raw1 = median_of(outcomes, "raw INSERT, 1 writer", "per_second")
    return (
        f"append: command mix 1 writer {_rate(one)} cmd/s (client {ms(cpu)} + PostgreSQL "
        f"{ms(pg)} CPU ms/cmd = {ratio(cpu + pg, raw_cpu + raw_pg, 0)}x a raw INSERT's), "
        f"with Idempotency-Key x{ratio(keyed, one)}, 8 writers {_rate(eight)} cmd/s (8 tenants) / "
        f"{_rate(shared)} (1 tenant); raw INSERT 1 writer {_rate(raw1)}/s; medians of rounds"
    )


def main() -> None:
    sc = scale()
    rounds = max(sc.append_rounds, 2)
    say(
        f"== append: a mix of real commands vs raw INSERT ({sc.append_seconds:.1f}s windows, "
        f"{rounds} interleaved rounds, {load_average()})"
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
        events = warm_up_writers(prepared, inboxes, outbox)
        for round_no in range(1, rounds + 1):
            for variant in rotated(variants(prepared, sc.append_seconds), round_no - 1):
                outcomes.append(run_variant(variant, round_no, inboxes, outbox, events))
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for worker in workers:
            worker.join(timeout=30)
    errors = [e for o in outcomes for e in o.errors]
    if errors:
        say(f"WRITER ERRORS: {errors[:5]}")
    outcomes.sort(key=lambda o: (o.variant, o.round))
    report(outcomes, prepared, events)
    say(f"(load at end: {load_average()})")
    say(headline(outcomes))
    if errors or any(o.stored != o.expected for o in outcomes):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
