"""`make bench` never drops another run's databases and prints no `nan` (issue 9 bug 9).

The bench modules are imported in child processes: `bench.common` picks the run id at import.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NAMES = "from bench.common import BENCH_DB, SMALL_DB; print(BENCH_DB, SMALL_DB)"


def _run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_two_runs_name_their_databases_apart() -> None:
    first, second = _run(NAMES), _run(NAMES)
    assert first != second
    for names in (first, second):
        big, small = names.split()
        assert big.startswith("hm_core_bench_") and small == f"{big}_small"
        assert len(small) <= 63  # PostgreSQL's identifier limit


def test_a_run_id_and_a_prefix_name_the_databases() -> None:
    assert _run(NAMES, BENCH_RUN_ID="r1") == "hm_core_bench_r1 hm_core_bench_r1_small"
    assert _run(NAMES, BENCH_RUN_ID="r1", BENCH_DB_PREFIX="mine") == "mine_r1 mine_r1_small"


def test_cells_without_samples_say_na_and_why() -> None:
    code = """
import json
from bench.common import ms, percentile, ratio, table
empty = percentile([], 50)
print(json.dumps({
    "ms": ms(empty),
    "ratio": ratio(empty, 1.0),
    "table": table(["step", "p50 ms"], [["a", ms(empty)], ["b", ms(0.004)]]),
}))
"""
    out = json.loads(_run(code))
    assert out["ms"] == "n/a" and out["ratio"] == "n/a"
    assert "nan" not in out["table"]
    assert out["table"].splitlines()[-1].startswith("n/a: no sample finished")


def test_the_generator_writes_every_column_of_the_tables_it_copies_into() -> None:
    # given the columns bench/gen.py COPYs into (a schema change once broke `make bench` there)
    from bench.gen import EVENT_COLUMNS, PATIENT_COLUMNS, TIMELINE_COLUMNS
    from hm_core.events.models import Event
    from hm_core.patients.models import Patient
    from hm_core.timeline.models import TimelineEntry

    # when they are held against the models' concrete columns
    def columns(model: type) -> set[str]:
        return {f.column for f in model._meta.concrete_fields}

    # then every column is written, and none that does not exist
    assert set(PATIENT_COLUMNS) == columns(Patient)
    assert {c.strip() for c in EVENT_COLUMNS.split(",")} == columns(Event)
    assert {c.strip() for c in TIMELINE_COLUMNS.split(",")} == columns(TimelineEntry)


def test_the_cpu_baseline_step_skips_cleanly_without_the_baseline_commit() -> None:
    # given a baseline commit this clone does not have (as in a shallow CI clone)
    missing = "0" * 40
    # when the step runs
    out = _run("from bench.bench_cpu_baseline import main; main([])", BENCH_CPU_BASELINE=missing)
    # then it says so and ends without error, its headline last
    assert f"{missing} is not in this clone" in out
    assert out.splitlines()[-1] == f"cpu baseline: skipped ({missing} not in this clone)"


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_the_cpu_baseline_worker_measures_every_command_of_a_visit_on_this_tree() -> None:
    # given the worker of today's tree, asked for a tenant and one visit
    from bench.cpu_worker import serve

    requests = io.StringIO(
        '{"op": "setup", "tenant": "cpuprobe"}\n{"op": "visits", "count": 1}\n{"op": "quit"}\n'
    )
    answers = io.StringIO()
    # when it serves the requests
    serve(requests, answers)
    # then it is ready, ran this tree's code, and measured each command of the visit once
    ready, setup, visits = (json.loads(line) for line in answers.getvalue().splitlines())
    assert ready == {"ready": True}
    assert Path(setup["hm_core"]) == ROOT
    from bench.bench_cpu_baseline import KINDS

    samples = visits["samples"]
    assert [s[0] for s in samples] == list(KINDS)
    for kind, cpu, pg_cpu, statements, seconds, instructions in samples:
        assert cpu > 0 and seconds > 0 and statements > 0, kind
        # the backend's CPU is read from /proc (NaN where PostgreSQL is not on this machine)
        assert isinstance(pg_cpu, float) and instructions is None  # no callgrind here
