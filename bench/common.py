"""What every benchmark shares: the scale, the scratch databases, Django set-up, statistics, tables.

Benchmarks run as separate processes (`python -m bench.<name>`) so that each one gets a fresh
interpreter, its own database connections and an honest peak-memory figure; this module keeps
their environment identical.
"""

from __future__ import annotations

import math
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else sys.executable

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
# The big store (every benchmark) and the 1,000-event store (the "small" side of the ratios),
# named per run: two runs on one server never drop each other's databases. `bench.run` picks the
# run id once and its benchmark processes inherit it; BENCH_DB_PREFIX changes the prefix.
RUN_ID = os.environ.setdefault("BENCH_RUN_ID", uuid.uuid4().hex[:10])
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "hm_core_bench")
BENCH_DB = f"{DB_PREFIX}_{RUN_ID}"
SMALL_DB = f"{DB_PREFIX}_{RUN_ID}_small"
# Production settings need a key; this one only ever signs tokens for the scratch databases.
SECRET_KEY = "bench-only-secret-key-never-used-outside-hm-core-bench-0123456789"  # noqa: S105
BIG_TENANT = "big"
# Seconds `make serve` may take to migrate, collect static files and answer: on a 2-core machine
# shared with test runs it has taken over two minutes.
SERVER_START_SECONDS = float(os.environ.get("BENCH_SERVER_START_SECONDS", "400"))


@dataclass(frozen=True)
class Scale:
    """Sizes and durations of one run; `small` is the smoke test, `full` the real one."""

    name: str
    append_seconds: float
    append_rounds: int
    http_seconds: float
    http_warmup: float
    http_tenants: int
    store_events: int
    store_patients: int
    small_events: int
    small_patients: int
    probe_entries: int
    timeline_samples: int
    search_samples: int
    read_rounds: int
    rebuild_cap: float  # seconds after which the big rebuild is stopped (0: never)


SCALES = {
    "small": Scale(
        name="small",
        append_seconds=3.0,
        append_rounds=2,
        http_seconds=3.0,
        http_warmup=1.5,
        http_tenants=4,
        store_events=5_000,
        store_patients=5_000,
        small_events=1_000,
        small_patients=1_000,
        probe_entries=200,
        timeline_samples=60,
        search_samples=20,
        read_rounds=2,
        rebuild_cap=0,
    ),
    "full": Scale(
        name="full",
        append_seconds=8.0,
        append_rounds=3,
        http_seconds=15.0,
        http_warmup=5.0,
        http_tenants=64,
        store_events=1_000_000,
        store_patients=1_000_000,
        small_events=1_000,
        small_patients=1_000,
        probe_entries=200,
        timeline_samples=300,
        search_samples=150,
        read_rounds=3,
        rebuild_cap=1000,
    ),
}


def scale() -> Scale:
    """The scale named by BENCH_SCALE (default full).

    BENCH_EVENTS / BENCH_PATIENTS resize the big store, BENCH_APPEND_SECONDS and
    BENCH_HTTP_SECONDS the measuring windows, BENCH_REBUILD_CAP (seconds, 0 = none) the time
    the big rebuild may take before it is stopped (for experiments; `make bench` sets none).
    """
    name = os.environ.get("BENCH_SCALE", "full").strip() or "full"
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE must be one of {sorted(SCALES)}, not {name!r}")
    chosen = SCALES[name]
    events = int(os.environ.get("BENCH_EVENTS", chosen.store_events))
    patients = int(os.environ.get("BENCH_PATIENTS", chosen.store_patients))
    append = float(os.environ.get("BENCH_APPEND_SECONDS", chosen.append_seconds))
    http = float(os.environ.get("BENCH_HTTP_SECONDS", chosen.http_seconds))
    cap = float(os.environ.get("BENCH_REBUILD_CAP", chosen.rebuild_cap))
    return Scale(
        **{
            **chosen.__dict__,
            "store_events": events,
            "store_patients": patients,
            "append_seconds": append,
            "http_seconds": http,
            "rebuild_cap": cap,
        }
    )


def dsn(db_name: str) -> str:
    """A libpq URL for a scratch database on the loopback server."""
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{db_name}"


def django_env(db_name: str) -> dict[str, str]:
    """The environment of a Django process on `db_name`: production settings, no broker.

    REDIS_URL is removed on purpose: without it async subscribers (webhooks) drain in-process
    after each commit — the embedded default of `make serve` — and nothing is queued in a Redis
    that other people on this machine use.
    """
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(
        DATABASE_URL=f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{db_name}",
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        SECRET_KEY=SECRET_KEY,
        # Production settings need field keys (contract §18); bench-only ones.
        FIELD_ENCRYPTION_KEYS="_ScKXoJL70ndhlkxYoLSZOKj2tG_T3_qfH-nb9CeySU=",
        FIELD_BLIND_INDEX_KEY="2U8sPe_ab47TeiccRlb_lQvWnYGUjoT5CgoJ_DLwEbQ=",
        CHAIN_SIGNING_KEY="YmVuY2gtb25seS1jaGFpbi1zaWduaW5nLWtleS0wMDA=",
        PYTHONPATH=str(REPO),
        # Tokens minted at the start of the HTTP benchmark must outlive it.
        JWT_ACCESS_MINUTES="240",
        # A few benchmark users send far more than a person would: measure, don't throttle.
        RATE_LIMIT_PER_MINUTE="1000000000",
        LOG_LEVEL="WARNING",
    )
    return env


def django_setup(db_name: str) -> None:
    """Configure and start Django in this process on `db_name` (call before importing models)."""
    os.environ.update(django_env(db_name))
    os.environ.pop("REDIS_URL", None)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def switch_database(db_name: str) -> None:
    """Point Django's default connection at another scratch database (same server, same schema).

    Lets one process interleave measurements on the small and the big store, so that a noisy
    neighbour slows both sides of a ratio alike.
    """
    from django.db import connections

    conn = connections["default"]
    conn.close()
    if getattr(conn, "pool", None) is not None:
        # The production settings' pool keeps connecting to the database it was made for:
        # close it, so that the next connection makes a pool for the new name.
        conn.close_pool()
    conn.settings_dict["NAME"] = db_name


@dataclass
class Statements:
    """What a block sent to the database through Django: `sql`, the statements counted as
    tests/perf/test_query_counts.py counts them (BEGIN and COMMIT not counted), and `log`, the
    same with a "COMMIT" marker at each commit, in order."""

    sql: list[str]
    log: list[str]

    @property
    def commits(self) -> int:
        return self.log.count("COMMIT")


@contextmanager
def statements_sent() -> Iterator[Statements]:
    """Count the statements of the block on Django's default connection (an execute wrapper,
    as the query-count test does; psycopg 3 may leave `last_executed_query` empty, so
    CaptureQueriesContext is no use here) and the commits (the backend's `_commit`)."""
    from django.db import connection

    seen = Statements([], [])

    def sent(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        text = str(sql)
        seen.sql.append(text)
        seen.log.append(text)
        return execute(sql, params, many, context)

    original = connection._commit

    def commit() -> Any:
        seen.log.append("COMMIT")
        return original()

    connection._commit = commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(sent):
            yield seen
    finally:
        del connection._commit


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between ranks; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# In a cell where no sample was taken (a step that never completed inside a short measuring
# window, as in BENCH_SCALE=small); each table says so under itself.
NO_SAMPLE = "n/a"


def ms(seconds: float) -> str:
    """Milliseconds with sensible precision for a table cell; n/a without samples."""
    if math.isnan(seconds):
        return NO_SAMPLE
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(numerator: float, denominator: float, digits: int = 2) -> str:
    """`numerator / denominator` for a headline; n/a when either side has no samples."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return NO_SAMPLE
    return f"{numerator / denominator:.{digits}f}"


def rate(count: float, seconds: float) -> str:
    per_second = count / seconds if seconds > 0 else 0.0
    return f"{per_second:.1f}" if per_second < 100 else f"{per_second:.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, aligned text table (numbers right-aligned) for the console and the docs."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if _numeric(cell) else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [line(cells[0]), rule, *(line(row) for row in cells[1:])]
    if any(NO_SAMPLE in cell for row in cells[1:] for cell in row):
        lines.append(
            f"{NO_SAMPLE}: no sample finished inside the measuring window (windows are seconds "
            "long at BENCH_SCALE=small; a slow step may complete no request in one)"
        )
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace(".", "").replace("%", "").replace("x", "")
    return stripped.lstrip("-").isdigit()


def server_refusals(log: Path) -> str:
    """Why a server's requests failed, when PostgreSQL refused it connections: "" otherwise."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    refused = text.count("sorry, too many clients already")
    if not refused:
        return ""
    return (
        f"  {refused} database connection(s) refused (PostgreSQL: too many clients) in the "
        "server's log. Under `make serve` (ASGI) each request runs in a thread of its own with "
        "a connection of its own, so connections grow with concurrent requests, not with "
        "workers, and DB_CONN_MAX_AGE=60 (config/settings/prod.py) keeps them past the request "
        "(Django's docs: disable persistent connections under ASGI, use a pool). Other runs "
        "on this PostgreSQL share its max_connections too."
    )


def say(text: str = "") -> None:
    """Print and flush at once: the orchestrator streams our output live."""
    print(text, flush=True)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"
