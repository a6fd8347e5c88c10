"""Benchmark 6: ADT^A04 over MLLP (`run_mllp`) vs the same registrations over REST (`make serve`).

One registration is the same work on both paths: a new patient, an encounter with a visit number,
checked in. Over MLLP it is one ADT^A04 (PID, PV1-19, PV2-3) answered by one ACK that must be
`AA` for that control id; over REST it is POST /api/patients/ + POST /api/encounters/ + POST
check-in as the demo nurse. Each path runs on 1 connection (sequential, waiting for each answer)
and on 8 concurrent ones, interleaved MLLP then REST at each concurrency, so that a noisy
neighbour slows both sides of a ratio alike. Both servers run at once with production settings
on a database of this process's own (`<BENCH_DB>_mllp_<pid>`, created, migrated and dropped
here), so the step needs nothing from the others and cannot disturb their databases.

The listener must keep its worker threads' database connections (`DB_CONN_MAX_AGE=60`): its
backends are named `hm_bench_mllp` (application_name) and checked after each MLLP run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_http import free_port, gunicorn_workers, stop_server
from bench.common import (
    BENCH_DB,
    PYTHON,
    REPO,
    SERVER_START_SECONDS,
    django_env,
    django_setup,
    dsn,
    load_average,
    ms,
    percentile,
    say,
    scale,
    server_refusals,
    statements_sent,
    table,
)
from bench.loadgen import LOOPBACK, Connection

CONNECTIONS = (1, 8)
# Per run (path, concurrency); BENCH_MLLP_MESSAGES overrides. Five runs: small stays near a
# minute on a quiet machine (more on a loaded one), full adds a few minutes to `make bench`.
MESSAGES = {"small": 150, "full": 1000}
WARMUP = 16  # per path and concurrency, not measured: imports, caches, connections
LISTENER_APP = "hm_bench_mllp"
SERVER_APP = "hm_bench_serve"
SENDER_APP, SENDER_FACILITY = "BENCHADT", "BENCHHOSP"  # channel k: MSH-3 BENCHADT<k>
TENANTS = 8  # the diagnostic run: 8 connections, messages spread over 8 tenants' channels
ADMITTED, ADMITTED_ISO = "20300101090000", "2030-01-01T09:00:00Z"
STREET, CITY, STATE, ZIP, COUNTRY = "12 Main St", "Springfield", "IL", "62701", "US"
PHONE = "+44 20 7946 0000"
FAMILIES = ("Lovelace", "Hopper", "Turing", "Noether", "Curie", "Franklin", "Meitner", "Byron")
GIVENS = ("Ada", "Grace", "Alan", "Emmy", "Marie", "Rosalind", "Lise", "Florence")
START, END = b"\x0b", b"\x1c\x0d"


@dataclass(frozen=True)
class Visit:
    """One patient's arrival: distinct MRN, visit number and control id on every path and run."""

    mrn: str
    visit_number: str
    control_id: str
    family: str
    given: str
    sender: str


def visits(prefix: str, count: int, *, tenants: int = 1) -> list[Visit]:
    tag = uuid.uuid4().hex[:6]
    return [
        Visit(
            mrn=f"{prefix}-{tag}-{i:05d}",
            visit_number=f"V{prefix}-{tag}-{i:05d}",
            control_id=f"{prefix}{tag}{i:05d}",
            family=FAMILIES[i % len(FAMILIES)],
            given=GIVENS[(i // len(FAMILIES)) % len(GIVENS)],
            sender=f"{SENDER_APP}{i % tenants}",
        )
        for i in range(count)
    ]


def adt_a04(visit: Visit) -> bytes:
    """A registration as a registration desk's ADT system sends it (v2.5.1, CR-separated)."""
    doctor = "1234^Welby^Marcus^^^Dr"
    pv1 = ["PV1", "1", "O", "OPD^101^1^MAIN", "R", "", "", doctor, "", "", "MED"]
    pv1 += ["", "", "", "1", "", "", doctor, "OP", visit.visit_number]
    pv1 += [""] * (44 - len(pv1)) + [ADMITTED]  # PV1-44 admit date/time
    segments = [
        f"MSH|^~\\&|{visit.sender}|{SENDER_FACILITY}|HMCORE|MAIN|{ADMITTED}||ADT^A04^ADT_A01|"
        f"{visit.control_id}|P|2.5.1|||AL|NE",
        f"EVN|A04|{ADMITTED}",
        f"PID|1||{visit.mrn}^^^{SENDER_FACILITY}^MR||{visit.family}^{visit.given}^K||19851210|F"
        f"|||{STREET}^^{CITY}^{STATE}^{ZIP}^{COUNTRY}||{PHONE}^PRN^PH",
        "|".join(pv1),
        "PV2|||^Cough",
    ]
    return "\r".join(segments).encode("ascii")


# ---------------------------------------------------------------------------- the two paths


@dataclass(frozen=True)
class Target:
    """Where the two servers listen, and the demo nurse's REST headers."""

    mllp_port: int
    http_port: int
    headers: dict[str, str]


Exchange = Callable[[Visit], Awaitable[None]]
Session = Callable[[Target], contextlib.AbstractAsyncContextManager[Exchange]]


@contextlib.asynccontextmanager
async def mllp_session(target: Target) -> AsyncIterator[Exchange]:
    """One MLLP connection kept open; each message waits for its ACK, which must be AA."""
    reader, writer = await asyncio.open_connection(LOOPBACK, target.mllp_port)

    async def exchange(visit: Visit) -> None:
        writer.write(START + adt_a04(visit) + END)
        await writer.drain()
        frame = await reader.readuntil(END)
        ack_check(frame[frame.find(START) + 1 : -len(END)], visit.control_id)

    try:
        yield exchange
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def ack_check(ack: bytes, control_id: str) -> None:
    """MSA-1 must be AA and MSA-2 the message's MSH-10; anything else stops the benchmark."""
    segments = ack.decode("latin-1").replace("\n", "\r").split("\r")
    msa = next((s.split("|") for s in segments if s.startswith("MSA|")), [])
    if msa[1:3] != ["AA", control_id]:
        err = next((s for s in segments if s.startswith("ERR|")), "")
        raise RuntimeError(f"ACK for {control_id} is not AA: {'|'.join(msa)} {err}")


@contextlib.asynccontextmanager
async def rest_session(target: Target) -> AsyncIterator[Exchange]:
    """One REST client: register, create the encounter with its visit number, check it in."""
    conn = Connection(target.http_port)

    async def call(path: str, body: dict[str, Any]) -> Any:
        response = await conn.request("POST", path, target.headers, body)
        if response.status >= 300:
            raise RuntimeError(f"POST {path}: {response.status} {response.body[:300]!r}")
        return response.json()

    async def exchange(visit: Visit) -> None:
        patient = await call("/api/patients/", rest_patient(visit))
        encounter = await call("/api/encounters/", rest_encounter(visit, patient["id"]))
        await call(f"/api/encounters/{encounter['id']}/check-in/", {})

    try:
        yield exchange
    finally:
        await conn.close()


def rest_patient(visit: Visit) -> dict[str, Any]:
    """The body of POST /api/patients/ that says what the ADT^A04's PID says (PID-5 name
    parts, PID-11 address as the structured address the ADT mapping produces)."""
    return {
        "given_name": visit.given,
        "middle_name": "K",
        "family_name": visit.family,
        "mrn": visit.mrn,
        "date_of_birth": "1985-12-10",
        "gender": "F",
        "phone": PHONE,
        "address": {
            "line1": STREET,
            "city": CITY,
            "state": STATE,
            "postal_code": ZIP,
            "country": COUNTRY,
        },
    }


def rest_encounter(visit: Visit, patient_id: str) -> dict[str, str]:
    """The body of POST /api/encounters/ that says what PV1-19, PV1-44 and PV2-3 say."""
    return {
        "patient": patient_id,
        "reason": "Cough",
        "scheduled_at": ADMITTED_ISO,
        "visit_number": visit.visit_number,
    }


@dataclass(frozen=True)
class Run:
    path: str
    clients: int
    tenants: int
    count: int
    seconds: float
    latencies: list[float]
    began: float  # wall clock (epoch) when the measured run started

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)


async def drive(
    session: Session, target: Target, work: list[Visit], clients: int, *, tenants: int = 1
) -> Run:
    """`clients` sessions share one queue of visits; each waits for its answer before the next.

    Bounded: the queue is finite and the whole run has a deadline of a second per visit.
    """
    queue: Iterator[Visit] = iter(work)
    latencies: list[float] = []

    async def client() -> None:
        async with session(target) as exchange:
            for visit in queue:
                started = time.perf_counter()
                await exchange(visit)
                latencies.append(time.perf_counter() - started)

    began, epoch = time.perf_counter(), time.time()
    async with asyncio.timeout(60 + len(work)):
        await asyncio.gather(*(client() for _ in range(clients)))
    name = "MLLP ADT^A04" if session is mllp_session else "REST 3 calls"
    return Run(
        name, clients, tenants, len(latencies), time.perf_counter() - began, latencies, epoch
    )


def measure(
    session: Session, target: Target, prefix: str, clients: int, count: int, *, tenants: int = 1
) -> Run:
    warmup = visits(f"{prefix}W", WARMUP, tenants=tenants)
    asyncio.run(drive(session, target, warmup, clients, tenants=tenants))
    work = visits(prefix, count, tenants=tenants)
    return asyncio.run(drive(session, target, work, clients, tenants=tenants))


# ---------------------------------------------------------------------------- processes


def server_env(db: str, app: str) -> dict[str, str]:
    """Production settings on `db`, connections kept 60 s (the listener's threads; `make serve`
    drops it for its pool) and named for pg_stat_activity."""
    env = django_env(db)
    env["DATABASE_URL"] += f"?application_name={app}"
    env["DB_CONN_MAX_AGE"] = "60"
    return env


def database_create(db: str) -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO,
        env=django_env(db),
        check=True,
    )


def database_drop(db: str) -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def listener_start(db: str, log: Path) -> tuple[subprocess.Popen[str], int]:
    """`manage.py run_mllp --port 0`; ready when it prints the port it really bound."""
    with log.open("w") as err:
        listener = subprocess.Popen(  # noqa: S603
            [PYTHON, "manage.py", "run_mllp", "--host", LOOPBACK, "--port", "0"],
            cwd=REPO,
            env=server_env(db, LISTENER_APP),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    try:  # whatever interrupts the wait (an error, SIGTERM) stops the listener too
        return listener, _bound_port(listener, log)
    except BaseException:
        listener_stop(listener)
        raise


def _bound_port(listener: subprocess.Popen[str], log: Path) -> int:
    assert listener.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(listener.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=60)
    line = listener.stdout.readline() if ready else ""
    if not line.startswith("MLLP listening on"):
        raise RuntimeError(f"run_mllp did not start (said {line!r}); see {log}")
    return int(line.strip().rsplit(":", 1)[1])


def listener_stop(listener: subprocess.Popen[str]) -> str:
    """SIGTERM (graceful: in-flight ACKs are written), SIGKILL if it lingers; its last words."""
    if listener.poll() is None:
        listener.send_signal(signal.SIGTERM)
    try:
        out, _ = listener.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(listener.pid, signal.SIGKILL)
        out, _ = listener.communicate(timeout=10)
    return (out or "").strip().splitlines()[-1] if (out or "").strip() else ""


def server_start(db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`make serve` on `db` (bench_http's start_server is tied to its own database)."""
    import urllib.request

    env = server_env(db, SERVER_APP)
    env.pop("DJANGO_SETTINGS_MODULE")  # make serve sets it itself
    # make serve (ASGI) borrows from its pool; kept connections would pile up per request
    # thread (config/settings/prod.py), so only the threaded listener keeps them.
    env.pop("DB_CONN_MAX_AGE")
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603
            # `make bench` has run `install`: the server's make must not reinstall.
            [  # noqa: S607
                "make",
                "--no-print-directory",
                "-o",
                ".venv/.installed",
                "serve",
                f"HOST={LOOPBACK}",
                f"PORT={port}",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:  # whatever interrupts the wait (an error, SIGTERM) stops the server too
        deadline = time.time() + SERVER_START_SECONDS
        while time.time() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/api/health/", timeout=2):
                    return server
            except OSError:
                time.sleep(0.3)  # nothing to wait on but the port answering
        raise RuntimeError(f"make serve did not answer on :{port}; see {log}")
    except BaseException:
        stop_server(server)
        raise


def listener_backends(db: str) -> set[tuple[int, float]]:
    """The listener's PostgreSQL sessions now: (pid, start); a new pid means a reconnect."""
    import psycopg

    with psycopg.connect(dsn("postgres")) as conn:
        rows = conn.execute(
            "SELECT pid, extract(epoch FROM backend_start) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = %s",
            (db, LISTENER_APP),
        ).fetchall()
    return {(int(pid), float(start)) for pid, start in rows}


def checked_in(db: str) -> dict[str, int]:
    """Encounters checked in per path (visit numbers `VM…` MLLP, `VR…` REST), in the store."""
    import psycopg

    with psycopg.connect(dsn(db)) as conn:
        rows = conn.execute(
            "SELECT substr(visit_number, 2, 1), count(*) FROM encounters_encounter "
            "WHERE status = 'CHECKED_IN' GROUP BY 1"
        ).fetchall()
    return {str(path): int(count) for path, count in rows}


# ---------------------------------------------------------------------------- set-up, report


def world() -> dict[str, str]:
    """bootstrap_demo tenants `mllp0`..`mllp7`, each with an HL7 channel for sender
    BENCHADT<k>; the REST path acts as `nurse@mllp0`, the tenant of the main MLLP runs."""
    from ninja_jwt.tokens import AccessToken

    from bench.world import scope_for, tenants_ensure
    from hm_core.iam.models import User
    from hm_core.interop.services import channel_create

    infos = tenants_ensure([f"mllp{k}" for k in range(TENANTS)])
    for k, info in enumerate(infos.values()):
        channel_create(
            scope=scope_for(info, "admin"),
            name=f"bench ADT {k}",
            protocol="hl7v2",
            facility_id=info.facility_id,
            sending_application=f"{SENDER_APP}{k}",
            sending_facility=SENDER_FACILITY,
        )
    main = infos["mllp0"]
    token = AccessToken.for_user(User.objects.get(username="nurse@mllp0"))  # type: ignore[misc]
    return {
        "Authorization": f"Bearer {token}",
        "X-Tenant-ID": str(main.tenant_id),
        "X-Facility-ID": str(main.facility_id),
        "Content-Type": "application/json",
        "User-Agent": "hm-bench",
    }


def in_process(headers: dict[str, str]) -> list[list[object]]:
    """One registration each way in this process (same settings and database): its SQL
    statements, COMMITs, the statements run while holding the tenant's append lock (the row
    lock on events_tenanteventhead, kept to COMMIT: what serialises one tenant's writers),
    and the CPU ms of this process per registration over a few more."""
    from django.test import Client

    from hm_core.interop import inbound

    client = Client(HTTP_HOST=LOOPBACK)
    rest_headers = {k: v for k, v in headers.items() if k != "Content-Type"}

    def mllp(visit: Visit) -> None:
        ack_check(
            inbound.receive_mllp(adt_a04(visit), peer="127.0.0.1:0").ack_bytes, visit.control_id
        )

    def rest(visit: Visit) -> None:
        def post(path: str, body: dict[str, Any]) -> Any:
            response = client.post(
                path, body, content_type="application/json", headers=rest_headers
            )
            if response.status_code >= 300:
                raise RuntimeError(f"in-process POST {path}: {response.status_code}")
            return response.json()

        patient = post("/api/patients/", rest_patient(visit))
        encounter = post("/api/encounters/", rest_encounter(visit, patient["id"]))
        post(f"/api/encounters/{encounter['id']}/check-in/", {})

    rows: list[list[object]] = []
    for name, prefix, register in (("MLLP ADT^A04", "PM", mllp), ("REST 3 calls", "PR", rest)):
        work = visits(prefix, 21)
        with statements_sent() as captured:
            register(work[0])
        sqls = [sql.lstrip().upper() for sql in captured.log]
        cpu = time.process_time()
        for visit in work[1:]:
            register(visit)
        cpu_ms = (time.process_time() - cpu) * 1000 / (len(work) - 1)
        rows.append([name, len(captured.sql), captured.commits, _under_lock(sqls), f"{cpu_ms:.1f}"])
    return rows


def _under_lock(sqls: list[str]) -> str:
    """Statements run while holding the tenant head's row lock (taken by the first append of
    a transaction, released by its COMMIT): in all, and in the longest single hold."""
    holds: list[int] = []
    for sql in sqls:
        if not holds or holds[-1] < 0:
            if "EVENTS_TENANT_HEAD" in sql and "FOR UPDATE" in sql:
                holds.append(1)
            continue
        holds[-1] += 1
        if sql == "COMMIT":
            holds[-1] = -holds[-1]  # closed
    sizes = [abs(h) for h in holds]
    return f"{sum(sizes)} / {max(sizes, default=0)}"


def report(runs: list[Run], cost: list[list[object]], notes: list[str]) -> None:
    rows = [
        [
            r.path,
            r.clients,
            r.tenants,
            r.count,
            f"{r.seconds:.1f}",
            f"{r.per_second:.1f}",
            ms(r.p50),
            ms(r.p99),
        ]
        for r in runs
    ]
    headers = ["path", "conns", "tenants", "registrations", "s", "reg/s", "p50 ms", "p99 ms"]
    say(table(headers, rows))
    for note in notes:
        say(note)
    say("")
    say(
        "one registration in-process: SQL statements, COMMITs, statements under the tenant's "
        "append lock (all / longest hold), CPU ms of this process per registration"
    )
    say(table(["path", "statements", "commits", "under lock", "CPU ms"], cost))
    by = {(r.path.split()[0], r.clients, r.tenants): r for r in runs}
    parts, ratios, goals = [], [], []
    for clients in CONNECTIONS:
        mllp, rest = by[("MLLP", clients, 1)], by[("REST", clients, 1)]
        parts.append(
            f"{clients}c MLLP {mllp.per_second:.1f} msg/s p50 {ms(mllp.p50)} p99 {ms(mllp.p99)} ms"
            f" vs REST {rest.per_second:.1f} reg/s p50 {ms(rest.p50)} p99 {ms(rest.p99)} ms"
        )
        ratio = mllp.per_second / rest.per_second
        ratios.append(f"{ratio:.2f} ({clients}c)")
        goals.append(f"{'met' if ratio >= 0.8 else 'NOT MET'} ({clients}c)")
    top = max(CONNECTIONS)
    p99 = by[("MLLP", top, 1)].p99
    spread = by[("MLLP", top, TENANTS)]
    say(
        f"mllp: ADT^A04 {'; '.join(parts)}; ratio MLLP/REST {' / '.join(ratios)}; "
        f"{top}c over {TENANTS} tenants {spread.per_second:.1f} msg/s p99 {ms(spread.p99)} ms; "
        f"goals: >=0.8x REST {', '.join(goals)}, p99 < 100 ms at {top}c "
        f"{'met' if p99 < 0.1 else 'NOT MET'} ({load_average()})"
    )


def run_all(target: Target, db: str, count: int, notes: list[str]) -> list[Run]:
    """MLLP then REST at each concurrency, then MLLP over 8 tenants. The listener's sessions
    are read after each MLLP run: one opened while measuring is a new worker thread's first
    connection or a reconnect (CONN_MAX_AGE reached), never one per message if reuse works."""
    runs: list[Run] = []
    plan = [(clients, 1) for clients in CONNECTIONS] + [(max(CONNECTIONS), TENANTS)]
    for clients, tenants in plan:
        run = measure(
            mllp_session, target, f"M{clients}x{tenants}", clients, count, tenants=tenants
        )
        runs.append(run)
        backends = listener_backends(db)
        fresh = sum(start >= run.began for _, start in backends)
        notes.append(
            f"listener PostgreSQL sessions after MLLP {clients}c/{tenants}t: {len(backends)}, "
            f"{fresh} opened during its {count} measured messages ({run.seconds:.0f} s)"
        )
        if tenants == 1:
            runs.append(measure(rest_session, target, f"R{clients}", clients, count))
    return runs


def _unwind(signum: int, _frame: object) -> None:
    """SIGTERM/SIGINT (a timeout, Ctrl-C, even when started in the background, where SIGINT is
    ignored) unwind like an error: the finally blocks stop both servers and drop the database."""
    raise SystemExit(128 + signum)


def main() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _unwind)
    sc = scale()
    count = int(os.environ.get("BENCH_MLLP_MESSAGES", MESSAGES[sc.name]))
    db = f"{BENCH_DB}_mllp_{os.getpid()}"  # the run's prefix, never another run's database
    say(
        f"== mllp: ADT^A04 over run_mllp vs REST register+encounter+check-in on make serve "
        f"({count} per run + {WARMUP} warm-up, {load_average()})"
    )
    logdir = Path(tempfile.mkdtemp(prefix="hm_bench_mllp_"))
    notes: list[str] = []
    database_create(db)
    try:
        django_setup(db)
        from django.db import connection

        headers = world()
        cost = in_process(headers)
        connection.close()  # hold no session on the database the servers measure
        listener, mllp_port = listener_start(db, logdir / "run_mllp.log")
        try:
            http_port = free_port()
            server = server_start(db, http_port, logdir / "serve.log")
            try:
                runs = run_all(Target(mllp_port, http_port, headers), db, count, notes)
            except RuntimeError:
                say(server_refusals(logdir / "serve.log"))
                raise
            finally:
                stop_server(server)
        finally:
            last_words = listener_stop(listener)
        notes.append(store_check(db, count, last_words))
        notes.append(
            f"servers: run_mllp (1 process, HL7_MLLP_WORKERS threads, default 8) and make serve "
            f"(gunicorn {gunicorn_workers(logdir / 'serve.log')} uvicorn workers), both "
            "config.settings.prod (run_mllp DB_CONN_MAX_AGE=60, make serve its pool), no "
            "REDIS_URL; every ACK checked AA"
        )
    finally:
        from django.db import connection

        connection.close()
        database_drop(db)
    shutil.rmtree(logdir, ignore_errors=True)
    report(runs, cost, notes)


def store_check(db: str, count: int, last_words: str) -> str:
    """Every registration must be in the store, checked in, exactly once per path."""
    done = checked_in(db)
    mllp = (len(CONNECTIONS) + 1) * (count + WARMUP)
    rest = len(CONNECTIONS) * (count + WARMUP)
    if done.get("M") != mllp or done.get("R") != rest:
        raise RuntimeError(f"checked-in encounters {done}, expected M {mllp} and R {rest}")
    return f"store: {mllp} MLLP and {rest} REST encounters CHECKED_IN (with warm-up); {last_words}"


if __name__ == "__main__":
    main()
