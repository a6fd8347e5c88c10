"""`make bench`: every benchmark in one run, side by side, on scratch PostgreSQL databases.

Order: create `hm_core_bench_<run>` and migrate it; clone it as `hm_core_bench_<run>_small` (a
template copy, before anything is written); append, CPU against the code before issue 10
(`bench_cpu_baseline`), HTTP, MLLP and WebSocket benchmarks;
generate the 1,000-event store in the small database and the big store in the big one; then
timeline, search, RLS and rebuild, which compare the two stores, and FHIR on the big store;
then DICOM, booking and reports on databases of their own. Each benchmark is its own process
and ends with one headline line; the run ends with those lines together. The databases are
dropped at the end (BENCH_KEEP_DB=1 keeps them). Their names carry this run's id (BENCH_RUN_ID,
random unless set), so runs side by side on one server never drop each other's databases.
BENCH_SCALE=small is the smoke test (17-23 minutes on the busy two-core machine).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.common import (
    BENCH_DB,
    PG_HOST,
    PG_PORT,
    PYTHON,
    REPO,
    SMALL_DB,
    Scale,
    django_env,
    dsn,
    load_average,
    say,
    scale,
)


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]


@dataclass(frozen=True)
class Outcome:
    name: str
    seconds: float
    ok: bool
    headline: str


def machine(sc: Scale) -> None:
    """What the numbers were measured on, read now rather than remembered."""
    import psycopg

    with psycopg.connect(dsn("postgres")) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in (
                "server_version",
                "shared_buffers",
                "synchronous_commit",
                "max_connections",
            )
        }
    memory = _meminfo_gib()
    cpu = _cpu_model()
    revision = _git("rev-parse", "--short", "HEAD")
    status = _git("status", "--porcelain")
    # A clean tree prints nothing, which _git reports as "unknown": no path to count then.
    dirty = 0 if status == "unknown" else len([ln for ln in status.splitlines() if ln.strip()])
    say("== machine")
    say(f"cpus (nproc): {os.cpu_count()}  ({cpu})")
    say(f"memory: {memory:.1f} GiB")
    say(
        f"PostgreSQL {settings['server_version']} on {PG_HOST}:{PG_PORT} "
        f"(shared_buffers {settings['shared_buffers']}, synchronous_commit "
        f"{settings['synchronous_commit']}, max_connections {settings['max_connections']})"
    )
    say(f"Python {platform.python_version()} ({sys.executable}), {platform.platform()}")
    say(f"code: {revision} with {dirty} uncommitted path(s) in the working tree")
    say(f"scale: {sc.name}  ({load_average()} at start)")


def _meminfo_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def _git(*args: str) -> str:
    done = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


# ---------------------------------------------------------------------------- databases


def drop_databases() -> None:
    """Drop this run's databases (FORCE: only our own benchmark processes can be connected)."""
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        for name in (SMALL_DB, BENCH_DB):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_databases() -> None:
    """This run's fresh, migrated big database, and the small one copied from it."""
    import psycopg

    drop_databases()
    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    started = time.perf_counter()
    subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO,
        env=django_env(BENCH_DB),
        check=True,
    )
    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{SMALL_DB}" TEMPLATE "{BENCH_DB}"')
    say(
        f"databases: {BENCH_DB} migrated in {time.perf_counter() - started:.1f}s, {SMALL_DB} cloned"
    )


# ---------------------------------------------------------------------------- steps


def steps(sc: Scale) -> list[Step]:
    module = [PYTHON, "-m"]
    verify_big = ["--verify"] if sc.name == "small" else []
    return [
        Step("append", [*module, "bench.bench_append"]),
        # Issue 10's CPU ratios: the code before issue 10 (git archive) beside this tree, each on
        # a database of its own, rounds interleaved; instructions under callgrind.
        Step("cpu baseline", [*module, "bench.bench_cpu_baseline"]),
        Step("http", [*module, "bench.bench_http"]),
        Step("mllp", [*module, "bench.bench_mllp"]),
        # Its own scratch database too: 200 sockets on make serve, a stream of check-ins.
        Step("ws", [*module, "bench.bench_ws"]),
        Step(
            "gen small store",
            [
                *module,
                "bench.gen",
                "--db",
                SMALL_DB,
                "--events",
                str(sc.small_events),
                "--patients",
                str(sc.small_patients),
                "--probe",
                str(sc.probe_entries),
                "--verify",
            ],
        ),
        Step(
            "gen big store",
            [
                *module,
                "bench.gen",
                "--db",
                BENCH_DB,
                "--events",
                str(sc.store_events),
                "--patients",
                str(sc.store_patients),
                "--probe",
                str(sc.probe_entries),
                *verify_big,
            ],
        ),
        Step("timeline", [*module, "bench.bench_timeline"]),
        Step("search", [*module, "bench.bench_search"]),
        Step("rls", [*module, "bench.bench_rls"]),
        Step("rebuild", [*module, "bench.bench_rebuild"]),
        # On the big store (its patients are searched), against its own make serve.
        Step("fhir", [*module, "bench.bench_fhir"]),
        # Its own scratch database (created, migrated and dropped by the step itself).
        Step("dicom", [*module, "bench.bench_dicom"]),
        # Its own scratch database too: 50 concurrent bookings of 10 slots, then 200 in a row.
        Step("booking", [*module, "bench.bench_booking"]),
        # Its own scratch database too: a year of report rows of a 1,000-visits-a-day facility.
        Step("reports", [*module, "bench.bench_reports"]),
    ]


def run_step(step: Step) -> Outcome:
    """Run one benchmark process, echo its output live, keep its last line (the headline)."""
    say("")
    started = time.perf_counter()
    last = ""
    with subprocess.Popen(  # noqa: S603
        step.argv,
        cwd=REPO,
        env=django_env(BENCH_DB),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            print(line, end="", flush=True)
            if line.strip():
                last = line.strip()
    seconds = time.perf_counter() - started
    ok = child.returncode == 0
    if not ok:
        say(f"!! {step.name} failed with exit code {child.returncode}")
    say(f"   ({step.name}: {seconds:.0f}s)")
    return Outcome(step.name, seconds, ok, last)


def main() -> None:
    sc = scale()
    began = time.perf_counter()
    machine(sc)
    outcomes: list[Outcome] = []
    try:
        create_databases()
        for step in steps(sc):
            outcomes.append(run_step(step))
            if not outcomes[-1].ok and step.name.startswith("gen"):
                break  # the read benchmarks need the generated stores
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            drop_databases()
    say("")
    say(
        f"== summary (scale {sc.name}, {time.perf_counter() - began:.0f}s, {load_average()} at end)"
    )
    for outcome in outcomes:
        if not outcome.name.startswith("gen"):
            flag = "" if outcome.ok else "FAILED: "
            say(f"{flag}{outcome.headline}")
    if not all(o.ok for o in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
