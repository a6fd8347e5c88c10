"""One tree's half of `bench.bench_cpu_baseline`: the append benchmark's visit, run on request.

Started by `bench.bench_cpu_baseline` as `python -P <this file>` with its working directory and
PYTHONPATH set to a source tree (today's, or an older commit materialised under /tmp), and the
environment of `bench.common.django_env` for that tree's own scratch database. `hm_core` and
`config` (the code measured) come from that tree; the `bench` package (the visit and how it is
measured: `bench.bench_append`'s `Visitor`, `visit_steps` and `_measured`) always comes from the
directory of this file, so both trees run the same requests, measured the same way.

It reads one JSON request per line on stdin and answers one JSON line on stdout:

* `{"op": "setup", "tenant": slug}`: bootstrap the tenant (`bench.world.tenants_ensure`) and
  mint its nurse's and doctor's tokens; answers where `hm_core` was imported from.
* `{"op": "visits", "count": n}`: n visits (register, read, schedule, check-in, vitals, start
  consult, LAB order), each command measured: its CPU, its PostgreSQL backend's CPU,
  statements, wall time and, under callgrind, instructions.
* `{"op": "quit"}`.

Under `valgrind --tool=callgrind --instr-atstart=no` (see `bench.callgrind`) a `visits` request
with `"instructions": true` switches instrumentation on and counts each command's instructions:
the same count whatever else the machine is doing.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


def load_own_bench_package() -> None:
    """Import `bench` from this file's directory, whatever tree PYTHONPATH names.

    The tree under measurement may carry a `bench` package of its own (an older one): the
    visit must be today's in both trees, so ours is registered before anything imports it.
    """
    spec = importlib.util.spec_from_file_location(
        "bench", BENCH_DIR / "__init__.py", submodule_search_locations=[str(BENCH_DIR)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module
    spec.loader.exec_module(module)


class Worker:
    """Django set up on the tree's code; one tenant's visitor; the measuring helpers."""

    def __init__(self) -> None:
        import django

        django.setup()
        self.visitor: Any = None
        self.counter: Any = None

    def setup(self, tenant: str) -> dict[str, Any]:
        import hm_core
        from bench.bench_append import Backend, Visitor
        from bench.world import tenants_ensure

        tenants_ensure([tenant])
        self.visitor = Visitor(tenant)
        self.backend = Backend()
        return {"hm_core": str(Path(hm_core.__file__).resolve().parent.parent)}

    def visits(self, count: int, instructions: bool) -> dict[str, Any]:
        from bench.bench_append import _measured, visit_steps

        if instructions and self.counter is None:
            from bench.callgrind import Callgrind

            self.counter = Callgrind.in_this_process()
        samples: list[list[Any]] = []
        self.backend.attach()
        pid = self.backend.pid
        for _ in range(count):
            for kind, call in visit_steps(self.visitor, False):
                if instructions:
                    # A collection of whatever the last command left would be counted in
                    # this one, and a collection's timing is not the same from run to run.
                    gc.collect()
                    self.counter.zero()
                sample = _measured(kind, call, self.backend)
                counted = self.counter.dump(kind) if instructions else None
                samples.append(
                    [kind, sample.cpu, sample.pg_cpu, sample.statements, sample.seconds, counted]
                )
        self.backend.attach()
        if self.backend.pid != pid:  # reconnected: the backend CPU is not this connection's
            for row in samples:
                row[2] = float("nan")
        return {"samples": samples}


def serve(requests: Any, answers: Any) -> None:
    """Answer requests until `quit` or end of input; an error is answered, not raised."""
    worker = Worker()
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        try:
            if request["op"] == "quit":
                break
            if request["op"] == "setup":
                answer = worker.setup(request["tenant"])
            elif request["op"] == "visits":
                answer = worker.visits(int(request["count"]), bool(request.get("instructions")))
            else:
                answer = {"error": f"unknown op {request['op']!r}"}
        except Exception as exc:  # the orchestrator reports it and stops
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    # Our answers own stdout; anything the code under measurement prints goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    load_own_bench_package()
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
