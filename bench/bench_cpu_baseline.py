"""Issue 10's CPU ratios: each command's CPU now, as a ratio to the code before issue 10.

Issue 10 asks for "CPU per command <= 0.25x today for check-in, vitals and the LAB order,
<= 0.5x for a patient read", today being the code before its first merge (`6a6c28f`, "a unit
of work per command"): its first parent is the baseline (BENCH_CPU_BASELINE overrides it). That
commit is materialised with `git archive` into a scratch directory (removed at the end; nothing
of it is committed) and runs beside the working tree, each tree in a process of its own
(`bench/cpu_worker.py`) on its own fresh PostgreSQL database migrated by that tree's own
migrations, production settings, no Redis. Both run `bench.bench_append`'s visit, in-process
through Django's request handler, measured the same way (client CPU by `time.process_time`,
its PostgreSQL backend's CPU from /proc, statements by an execute wrapper): register, patient
read, schedule, check-in, vitals, start consult, LAB order CBC+CRP.

Rounds alternate the trees (before, now, now, before, ...) so both see the same machine load.
Where valgrind and gcc are there, each tree then runs a few visits under callgrind: instructions
per command, the same whatever the load (`bench/callgrind.py`). A clone without the baseline
commit (a shallow CI clone) says so and skips; `--current-only` runs today's half alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import callgrind
from bench.common import (
    DB_PREFIX,
    PYTHON,
    REPO,
    RUN_ID,
    django_env,
    dsn,
    load_average,
    ms,
    say,
)

BASELINE = os.environ.get("BENCH_CPU_BASELINE", "6a6c28f^1")
TENANT = "cpubase"
# The visit's commands, in order (bench_append.visit_steps without an Idempotency-Key).
KINDS = ("register", "patient read", "schedule", "check-in", "vitals", "start consult", "LAB order")
# Issue 10 item 4: CPU per command now / today.
TARGET = {"check-in": 0.25, "vitals": 0.25, "LAB order": 0.25, "patient read": 0.5}
# rounds x visits per round (each tree), visits under callgrind (each tree), per scale.
SIZES = {"small": (4, 3, 1), "full": (8, 5, 3)}
WARM_VISITS = 2


@dataclass
class Tree:
    """One source tree under measurement: its code, its database, its worker process."""

    label: str  # "before" or "now"
    path: Path
    revision: str
    db: str
    samples: dict[str, list[list[Any]]] = field(default_factory=lambda: defaultdict(list))
    instructions: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def env(self) -> dict[str, str]:
        """Production settings on its own database, its own code first on the path."""
        return {**django_env(self.db), "PYTHONPATH": str(self.path)}


# ---------------------------------------------------------------------------- the trees


def resolve(ref: str) -> str | None:
    """The full commit id of `ref` in this clone, or None (no git, or a shallow clone)."""
    done = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def materialise(commit: str, into: Path) -> None:
    """The commit's files (not its history) into `into`: `git archive | tar -x`."""
    into.mkdir(parents=True)
    archive = subprocess.Popen(  # noqa: S603
        ["git", "archive", "--format=tar", commit],  # noqa: S607
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)  # noqa: S603, S607
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {commit} failed")


@contextmanager
def database(tree: Tree) -> Iterator[None]:
    """A fresh database migrated by the tree's own migrations; dropped afterwards."""
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{tree.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{tree.db}"')
    try:
        started = time.perf_counter()
        subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=tree.path,
            env=tree.env(),
            check=True,
        )
        say(f"  {tree.label}: {tree.db} migrated in {time.perf_counter() - started:.0f}s")
        yield
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{tree.db}" WITH (FORCE)')


class Worker:
    """A `bench/cpu_worker.py` process on one tree (optionally under valgrind)."""

    def __init__(
        self, tree: Tree, prefix: list[str], extra_env: dict[str, str], log: Path | None = None
    ) -> None:
        self.tree = tree
        # Under valgrind its chatter goes to a log (shown if the phase fails), else to ours.
        self.log = open(log, "w") if log is not None else None  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603
            [*prefix, PYTHON, "-P", str(REPO / "bench" / "cpu_worker.py")],
            cwd=tree.path,
            env={**tree.env(), **extra_env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.answer()  # ready: Django is set up

    def send(self, **request: Any) -> None:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()

    def answer(self) -> dict[str, Any]:
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"{self.tree.label} worker exited ({self.process.wait()})")
        found: dict[str, Any] = json.loads(line)
        if "error" in found:
            raise RuntimeError(f"{self.tree.label} worker: {found['error']}")
        return found

    def ask(self, **request: Any) -> dict[str, Any]:
        self.send(**request)
        return self.answer()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send(op="quit")
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()


@contextmanager
def workers(
    trees: list[Tree],
    prefixes: list[tuple[list[str], dict[str, str]]],
    logs: list[Path] | None = None,
) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for index, (tree, (prefix, env)) in enumerate(zip(trees, prefixes, strict=True)):
            started.append(Worker(tree, prefix, env, logs[index] if logs else None))
        yield started
    finally:
        for worker in started:
            worker.close()


# ---------------------------------------------------------------------------- measuring


def setup(running: list[Worker], tenant: str) -> None:
    """Every worker bootstraps its tenant (in parallel) and says which code it imported."""
    for worker in running:
        worker.send(op="setup", tenant=tenant)
    for worker in running:
        where = Path(worker.answer()["hm_core"])
        if where != worker.tree.path.resolve():
            raise RuntimeError(f"{worker.tree.label} imported hm_core from {where}")


def interleaved(running: list[Worker], rounds: int, visits: int) -> None:
    """Warm each tree up, then alternate them round by round (ABBA...): same machine load."""
    for worker in running:
        worker.ask(op="visits", count=WARM_VISITS)
    for round_no in range(rounds):
        order = running if round_no % 2 == 0 else running[::-1]
        for worker in order:
            for sample in worker.ask(op="visits", count=visits)["samples"]:
                worker.tree.samples[sample[0]].append([*sample, round_no])
        say(f"  round {round_no + 1}/{rounds} ({load_average()})")


def counted(running: list[Worker], visits: int) -> None:
    """Instructions per command under callgrind: every tree at once (counts ignore load)."""
    for worker in running:
        worker.send(op="visits", count=1)  # warm: nothing instrumented yet
    for worker in running:
        worker.answer()
    for worker in running:
        worker.send(op="visits", count=visits, instructions=True)
    for worker in running:
        for sample in worker.answer()["samples"]:
            worker.tree.instructions[sample[0]].append(int(sample[5]))


def count_instructions(trees: list[Tree], scratch: Path, visits: int) -> str:
    """Run `counted` with each tree's worker under callgrind; "" or why it could not.

    A failure here (valgrind refusing the interpreter, say) costs the instruction columns
    only: the CPU figures measured before stand, and the logs' last lines say what happened.
    """
    logs = [scratch / f"valgrind.{tree.label}.log" for tree in trees]
    try:
        callgrind.build_shim(scratch)
        prefixes = [callgrind.valgrind_prefix(scratch, tree.label) for tree in trees]
        with workers(trees, prefixes, logs) as running:
            setup(running, TENANT)
            counted(running, visits)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        for tree in trees:
            tree.instructions.clear()
        tails = [line for log in logs if log.exists() for line in log.read_text().splitlines()[-5:]]
        return f"{type(exc).__name__}: {exc}" + "".join(f"\n    {line}" for line in tails)
    return ""


# ---------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def column(tree: Tree, kind: str, index: int) -> float:
    return median([s[index] for s in tree.samples.get(kind, [])])


def round_spread(now: Tree, before: Tree, kind: str) -> str:
    """The lowest and highest client CPU ratio of a single round (the noise between rounds)."""
    ratios = []
    for round_no in sorted({s[6] for s in now.samples.get(kind, [])}):
        mine = median([s[1] for s in now.samples[kind] if s[6] == round_no])
        theirs = median([s[1] for s in before.samples.get(kind, []) if s[6] == round_no])
        if theirs == theirs and theirs > 0 and mine == mine:
            ratios.append(mine / theirs)
    return f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "n/a"


def share(now: float, before: float) -> str:
    if now != now or before != before or before == 0:
        return "n/a"
    return f"{now / before:.2f}"


def verdict(kind: str, now: float, before: float) -> str:
    target = TARGET.get(kind)
    if target is None or now != now or before != before or before == 0:
        return ""
    return "met" if now / before <= target else "MISSED"


def _verdicts(kind: str, cpu: tuple[float, float], instructions: tuple[float, float]) -> str:
    """Against the target: by CPU time (what the issue measured), and by instructions."""
    found = [
        f"{name} {verdict(kind, *pair)}"
        for name, pair in (("CPU", cpu), ("instr", instructions))
        if verdict(kind, *pair)
    ]
    return ", ".join(found) or "-"


def report(trees: list[Tree]) -> str:
    """The per-command table (and returns the headline)."""
    from bench.common import table

    now = trees[-1]
    before = trees[0] if len(trees) == 2 else None
    rows = []
    parts = []
    for kind in KINDS:
        cpu_now, pg_now = column(now, kind, 1), column(now, kind, 2)
        ins_now = median([float(v) for v in now.instructions.get(kind, [])])
        statements_now = _statements(now, kind)
        if before is None:
            rows.append([kind, ms(cpu_now), ms(pg_now), _millions(ins_now), statements_now])
            continue
        cpu_b, pg_b = column(before, kind, 1), column(before, kind, 2)
        ins_b = median([float(v) for v in before.instructions.get(kind, [])])
        target = TARGET.get(kind)
        rows.append(
            [
                kind,
                ms(cpu_b),
                ms(cpu_now),
                share(cpu_now, cpu_b),
                round_spread(now, before, kind),
                _millions(ins_b),
                _millions(ins_now),
                share(ins_now, ins_b),
                f"<= {target}" if target else "-",
                _verdicts(kind, (cpu_now, cpu_b), (ins_now, ins_b)),
                ms(pg_b),
                ms(pg_now),
                share(pg_now, pg_b),
                _statements(before, kind),
                statements_now,
            ]
        )
        if target:
            counted = f", instr {share(ins_now, ins_b)}" if ins_b == ins_b else ""
            parts.append(f"{kind} CPU {share(cpu_now, cpu_b)}{counted} (<= {target})")
    if before is None:
        say(table(["command", "client CPU ms", "PG CPU ms", "M instr", "statements"], rows))
        return f"cpu baseline: current half only, {len(now.samples.get('register', []))} visits"
    say(
        table(
            [
                "command",
                "CPU ms before",
                "now",
                "ratio",
                "per round",
                "M instr before",
                "now",
                "ratio",
                "target",
                "",
                "PG CPU ms before",
                "now",
                "ratio",
                "stmts before",
                "now",
            ],
            rows,
        )
    )
    say(
        f"before: {before.revision} (materialised by git archive), now: the working tree; "
        "client CPU = time.process_time per request, medians over interleaved rounds "
        "('per round': the lowest and highest ratio of one round's medians); "
        "M instr = millions of instructions per request under callgrind (load-independent); "
        "instructions leave out the kernel's side of each round trip, which CPU time "
        "includes; PG CPU = the backend's /proc schedstat; statements counted as tests/perf "
        "counts them"
    )
    return f"cpu vs {before.revision[:7]} (client, now/before): " + ", ".join(parts)


def _millions(value: float) -> str:
    """Millions of instructions; "-" when none were counted (no callgrind phase)."""
    return "-" if value != value else f"{value / 1e6:.1f}"


def _statements(tree: Tree, kind: str) -> str:
    counts = sorted({int(s[3]) for s in tree.samples.get(kind, [])})
    if not counts:
        return "-"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


# ---------------------------------------------------------------------------- main


def arguments(argv: list[str] | None) -> argparse.Namespace:
    from bench.common import scale

    rounds, visits, instr = SIZES.get(scale().name, SIZES["small"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--visits", type=int, default=visits, help="visits per round per tree")
    parser.add_argument(
        "--instruction-visits", type=int, default=instr, help="visits under callgrind (0: none)"
    )
    parser.add_argument("--current-only", action="store_true", help="today's half alone")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    say(
        f"== cpu baseline: CPU per command now vs {BASELINE} ({args.rounds} interleaved rounds "
        f"of {args.visits} visits, {load_average()})"
    )
    commit = None if args.current_only else resolve(BASELINE)
    if commit is None and not args.current_only:
        say(
            f"  {BASELINE} is not in this clone (a shallow clone lacks the history): "
            "no baseline to compare with; skipped"
        )
        say(f"cpu baseline: skipped ({BASELINE} not in this clone)")
        return
    why_not = callgrind.unavailable() if args.instruction_visits > 0 else "not asked for"
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hm_cpu_")))
        trees = [Tree("now", REPO, "working tree", f"{DB_PREFIX}_{RUN_ID}_cpu_now")]
        if commit is not None:
            materialise(commit, scratch / "before")
            trees.insert(
                0, Tree("before", scratch / "before", commit, f"{DB_PREFIX}_{RUN_ID}_cpu_before")
            )
        for tree in trees:
            stack.enter_context(database(tree))
        with workers(trees, [([], {})] * len(trees)) as running:
            setup(running, TENANT)
            interleaved(running, args.rounds, args.visits)
        if not why_not:
            say(f"  callgrind: {args.instruction_visits} visit(s) per tree")
            why_not = count_instructions(trees, scratch, args.instruction_visits)
        if why_not:
            say(f"  no instruction counts: {why_not}")
        say(f"(load at end: {load_average()})")
        say(report(trees))


if __name__ == "__main__":
    main()
