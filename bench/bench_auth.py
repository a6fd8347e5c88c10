"""Authentication on a principal-cache miss: the ORM's queryset against the same statement
compiled once per process (`iam.selectors.user_and_principal`, issue 10), in one run.

On a scratch PostgreSQL database (production settings, created and dropped here) with one
`bootstrap_demo` tenant, the doctor's user and principal are resolved again and again, as
`ScopeAuth` does with the tenant entered (row-level security on): rounds alternate the two
paths, in an order that flips every round, so machine load slows both alike. Figures are the
client CPU per call (`time.process_time`) and the wall time, medians of the rounds.
Alone: `.venv/bin/python -m bench.bench_auth [--rounds 8] [--calls 300]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.bench_dicom import create_db, drop_db
from bench.common import BENCH_DB, django_setup, load_average, say, table

DB = f"{BENCH_DB}_auth"


def _paths(info: Any) -> dict[str, Callable[[], Any]]:
    from hm_core.iam.models import User
    from hm_core.iam.selectors import principal_from_rows, principal_rows, user_and_principal

    ids = {
        "user_id": str(User.objects.get(username=f"doctor@{info.slug}").id),  # as in the token
        "tenant_id": info.tenant_id,
        "facility_id": info.facility_id,
    }

    def orm() -> Any:
        return principal_from_rows(list(principal_rows(**ids)), tenant_id=info.tenant_id)

    def compiled() -> Any:
        return user_and_principal(**ids)

    return {"ORM queryset": orm, "compiled once": compiled}


def _round(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    """CPU and wall seconds per call over `calls` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    create_db(DB)
    try:
        django_setup(DB)
        from bench.world import tenants_ensure
        from hm_core.common import rls

        info = tenants_ensure(["authbench"])["authbench"]
        paths = _paths(info)
        found = {name: path() for name, path in paths.items()}
        if (
            found["ORM queryset"][1] != found["compiled once"][1]
            or found["ORM queryset"][1] is None
        ):
            raise SystemExit(f"the two paths disagree: {found}")
        say(f"== auth: {args.rounds} rounds of {args.calls} calls per path ({load_average()})")
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        with rls.tenant(info.tenant_id):
            for path in paths.values():  # warm-up: the compiled path compiles here
                _round(path, 20)
            for index in range(args.rounds):
                order = list(paths) if index % 2 == 0 else list(reversed(paths))
                for name in order:
                    samples[name].append(_round(paths[name], args.calls))
        rows = []
        for name, values in samples.items():
            cpu = [c * 1000 for c, _ in values]
            wall = [w * 1000 for _, w in values]
            rows.append(
                [
                    name,
                    f"{statistics.median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f})",
                    f"{statistics.median(wall):.3f}",
                ]
            )
        say(table(["path", "CPU ms/call (rounds' range)", "wall ms/call"], rows))
        before = statistics.median(c for c, _ in samples["ORM queryset"])
        after = statistics.median(c for c, _ in samples["compiled once"])
        say(f"auth: compiled/ORM CPU x{after / before:.2f} ({load_average()} at the end)")
    finally:
        drop_db(DB)


if __name__ == "__main__":
    main()
