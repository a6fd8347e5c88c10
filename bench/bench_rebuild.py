"""Benchmark 5: `manage.py rebuild_projections` on the big tenant — events/s and peak memory.

The command runs as operators run it (its default modules: timeline, tasks, alerts), in its own
process, on the 1,000-event store and then on the big store. Throughput is the command's own
figure (events replayed / seconds in `rebuild`); peak memory is that process's ru_maxrss from
wait4(), i.e. the whole Django process at its largest.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field

from bench.common import (
    BENCH_DB,
    BIG_TENANT,
    PYTHON,
    REPO,
    SMALL_DB,
    django_env,
    load_average,
    say,
    scale,
    table,
)

SUMMARY = re.compile(
    r"from (?P<events>\d+) events of \d+ tenant\(s\), (?P<rows>\d+) rows replaced, "
    r"(?P<seconds>[\d.]+)s \((?P<rate>\d+) events/s\)"
)
PROGRESS = re.compile(r"(\d+)/(\d+) events")


@dataclass(frozen=True)
class Sample:
    """One look at the running command: its progress bar and its resident memory."""

    seconds: float
    done: int
    total: int
    rss_mb: float


@dataclass
class Rebuild:
    db: str
    cap: float
    samples: list[Sample] = field(default_factory=list)
    finished: bool = False
    stopped_at: float | None = None
    events: int = 0
    rows: int = 0
    seconds: float = 0.0
    rate: int = 0
    wall: float = 0.0
    max_rss_mb: float = 0.0
    output: str = ""

    @property
    def total(self) -> int:
        return self.samples[-1].total if self.samples else self.events

    @property
    def done(self) -> int:
        return self.events if self.finished else (self.samples[-1].done if self.samples else 0)

    def replay_rate(self) -> float:
        """Events/s between the first and the last progress report: the steady replay, without
        start-up, the count and the DELETE of the old rows."""
        moving = [s for s in self.samples if s.done > 0]
        if len(moving) < 5 or moving[-1].seconds <= moving[0].seconds:
            return float(self.rate)  # too short a run for a steady figure: the command's own
        return (moving[-1].done - moving[0].done) / (moving[-1].seconds - moving[0].seconds)


def rebuild(db: str, cap: float) -> Rebuild:
    """Run the command (progress bar on) in a child; sample its progress and RSS every second;
    stop it after `cap` seconds (0: no cap) — its transaction then rolls back, nothing half-done
    stays — and read its summary line and wait4() peak RSS."""
    command = [PYTHON, "manage.py", "rebuild_projections", "--tenant", BIG_TENANT]
    result = Rebuild(db=db, cap=cap)
    started = time.perf_counter()
    with subprocess.Popen(  # noqa: S603
        command, cwd=REPO, env=django_env(db), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as child:
        output, status, max_rss_kb = _watch(child, result, started)
    result.wall = time.perf_counter() - started
    result.max_rss_mb = max_rss_kb / 1024
    found = SUMMARY.search(output)
    if found is not None and status == 0:
        result.finished = True
        result.events, result.rows = int(found["events"]), int(found["rows"])
        result.seconds, result.rate = float(found["seconds"]), int(found["rate"])
        result.output = found.group(0)
    elif result.stopped_at is None:
        raise RuntimeError(f"rebuild_projections on {db} failed ({status}): {output[-2000:]}")
    return result


def _watch(child: subprocess.Popen[bytes], result: Rebuild, started: float) -> tuple[str, int, int]:
    """Follow the child until it exits (or the cap): output, exit status, ru_maxrss in KiB."""
    chunks: list[bytes] = []
    assert child.stdout is not None
    os.set_blocking(child.stdout.fileno(), False)
    while True:
        chunks.append(child.stdout.read() or b"")
        elapsed = time.perf_counter() - started
        progress = PROGRESS.findall(b"".join(chunks[-3:]).decode(errors="replace"))
        if progress:
            done, total = (int(x) for x in progress[-1])
            result.samples.append(Sample(elapsed, done, total, _rss_mb(child.pid)))
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            chunks.append(child.stdout.read() or b"")
            child.returncode = os.waitstatus_to_exitcode(status)
            return b"".join(chunks).decode(errors="replace"), child.returncode, usage.ru_maxrss
        if result.cap and elapsed >= result.cap and result.stopped_at is None:
            child.send_signal(signal.SIGINT)  # KeyboardInterrupt: the transaction rolls back
            result.stopped_at = elapsed
        elif result.stopped_at is not None and elapsed > result.stopped_at + 60:
            child.kill()
        time.sleep(1.0)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def progress_rows(run: Rebuild) -> list[list[object]]:
    """Progress and memory at about each quarter of the run."""
    rows: list[list[object]] = []
    samples = [s for s in run.samples if s.rss_mb == s.rss_mb]  # not NaN: the process was alive
    if not samples:
        return rows
    picks = sorted({int(len(samples) * q) for q in (0.25, 0.5, 0.75)} | {len(samples) - 1})
    for index in picks:
        sample = samples[min(index, len(samples) - 1)]
        rows.append(
            [
                f"{sample.seconds:.0f}",
                f"{sample.done:,} / {sample.total:,}",
                f"{sample.rss_mb:.0f}",
            ]
        )
    return rows


def main() -> None:
    sc = scale()
    cap = sc.rebuild_cap
    say(
        f"== rebuild: manage.py rebuild_projections --tenant {BIG_TENANT} "
        f"({'no time cap' if not cap else f'stopped after {cap:.0f} s if unfinished'}, "
        f"{load_average()})"
    )
    results = [rebuild(SMALL_DB, 0), rebuild(BENCH_DB, cap)]
    rows = [
        [
            f"{r.total:,}",
            f"{r.done:,}",
            "yes" if r.finished else f"no: stopped at {r.stopped_at:.0f} s",
            f"{r.seconds:.1f}" if r.finished else "-",
            f"{r.rate:,}" if r.finished else "-",
            f"{r.replay_rate():,.0f}",
            f"{r.rows:,}" if r.finished else "-",
            f"{r.max_rss_mb:.0f}",
        ]
        for r in results
    ]
    headers = [
        "events",
        "replayed",
        "finished",
        "command s",
        "command ev/s",
        "steady ev/s",
        "rows replaced",
        "peak RSS MB",
    ]
    say(table(headers, rows))
    say(
        "command s / ev/s: the command's own summary (includes the count and the DELETE of the "
        "old rows); steady: between its first and last progress report; peak RSS: wait4() "
        "ru_maxrss of the command's process; modules: timeline, tasks, alerts (its default)"
    )
    small, big = results
    say("")
    say(f"big store, progress and resident memory ({big.db}):")
    say(table(["s", "events replayed", "RSS MB"], progress_rows(big)))
    if big.finished:
        figure = f"{big.events:,} events in {big.seconds:.0f} s = {big.rate:,} events/s"
    else:
        projected = big.total / big.replay_rate() / 60 if big.replay_rate() else float("nan")
        figure = (
            f"NOT FINISHED: stopped at the {big.stopped_at:.0f} s cap after {big.done:,} of "
            f"{big.total:,} events, {big.replay_rate():,.0f} events/s steady "
            f"(all {big.total:,} would take ~{projected:.1f} min)"
        )
    say(
        f"rebuild: {figure}, peak RSS {big.max_rss_mb:.0f} MB ({small.total:,} events: "
        f"{small.rate:,} events/s, {small.max_rss_mb:.0f} MB)"
    )


if __name__ == "__main__":
    main()
