"""Benchmark 4: patient search by name prefix and by MRN over 1,000,000 patients.

A search is what `GET /api/patients/?search=<term>` runs: `patient_list` (name `icontains`, MRN
`istartswith`, phone `startswith`, ORed; newest first) and `paginate` (the first page of 50 and
the total count). Terms come from the data: a first name plus the start of a surname (few hits),
a surname prefix (~0.1 % of patients), an exact MRN, and an MRN prefix (~100 hits at 1M). Each
sample draws a fresh patient, so no single cached term flatters the figure. The plans of both
statements are EXPLAINed and their index names printed: the trigram index (patients_name_trgm)
and the MRN prefix index (patients_mrn_prefix) from migration patients/0002 must appear.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    BENCH_DB,
    BIG_TENANT,
    SMALL_DB,
    django_setup,
    load_average,
    ms,
    percentile,
    ratio,
    say,
    scale,
    switch_database,
    table,
)
from bench.plans import captured_sql, explain

Term = Callable[[str, str], str]
KINDS: dict[str, Term] = {
    "name prefix": lambda name, mrn: name.split(" ")[0] + " " + name.split(" ")[1][:4],
    "surname prefix": lambda name, mrn: name.split(" ")[1][:5],
    "MRN exact": lambda name, mrn: mrn,
    "MRN prefix": lambda name, mrn: mrn[:-2],
    # Not asked for, shown for what a user meets first: two typed letters, and the bare list.
    "2 letters": lambda name, mrn: name[:2],
    "no search": lambda name, mrn: "",
}
# The index each kind must use on the big store; None: no index can serve it (not judged).
EXPECTED_INDEX: dict[str, str | None] = {
    "name prefix": "patients_name_trgm",
    "surname prefix": "patients_name_trgm",
    "MRN exact": "patients_mrn_prefix",
    "MRN prefix": "patients_mrn_prefix",
    "2 letters": None,
    "no search": None,
}
HEADLINE_KINDS = ("name prefix", "surname prefix", "MRN exact", "MRN prefix")


@dataclass
class Store:
    db: str
    patients: int = 0
    scope: Any = None
    people: list[tuple[str, str]] = field(default_factory=list)  # (full name, MRN)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    hits: dict[str, list[int]] = field(default_factory=dict)
    slowest: dict[str, tuple[float, str]] = field(default_factory=dict)  # kind: (seconds, term)


def open_store(db: str) -> Store:
    """The tenant's patient count and a random sample of its patients to search for."""
    from django.db import connection

    from bench.world import scope_for, tenant_info

    switch_database(db)
    store = Store(db=db, scope=scope_for(tenant_info(BIG_TENANT), "nurse", "bench-search"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM patients_patient WHERE tenant_id = %s", [store.scope.tenant_id]
        )
        store.patients = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT full_name, mrn FROM patients_patient WHERE tenant_id = %s AND mrn LIKE 'MRN-%%'"
            " ORDER BY random() LIMIT 500",
            [store.scope.tenant_id],
        )
        store.people = [(name, mrn) for name, mrn in cursor.fetchall()]
    return store


def search(store: Store, term: str) -> int:
    """The list endpoint's work: first page of 50 and the total count."""
    from hm_core.common.pagination import paginate
    from hm_core.common.scope import scope_active
    from hm_core.patients.selectors import PatientFilters, patient_list

    with scope_active(store.scope):
        page = paginate(
            patient_list(scope=store.scope, filters=PatientFilters(search=term)), limit=50, offset=0
        )
    return int(page["count"])


def measure(store: Store, samples: int, rng: random.Random) -> None:
    switch_database(store.db)
    for kind, term_of in KINDS.items():
        search(store, term_of(*rng.choice(store.people)))  # warm-up, unmeasured
        # The unindexable kinds scan the whole tenant: fewer samples keep the run short.
        count = samples if kind in HEADLINE_KINDS else max(samples // 5, 10)
        for _ in range(count):
            term = term_of(*rng.choice(store.people))
            started = time.perf_counter()
            hits = search(store, term)
            seconds = time.perf_counter() - started
            store.latencies.setdefault(kind, []).append(seconds)
            store.hits.setdefault(kind, []).append(hits)
            if seconds > store.slowest.get(kind, (0.0, ""))[0]:
                store.slowest[kind] = (seconds, term)


def plans(store: Store) -> list[list[str]]:
    """EXPLAIN ANALYZE the page and count statements of the slowest search of each kind: the
    plan behind the p99, which is where a planner's misestimate shows."""
    switch_database(store.db)
    rows = []
    for kind in KINDS:
        term = store.slowest[kind][1]
        page_sql, count_sql = captured_sql(lambda t=term: search(store, t))[-2:]
        for statement, sql in (("page", page_sql), ("count", count_sql)):
            plan = explain(sql)
            expected = EXPECTED_INDEX[kind]
            verdict = "-" if expected is None else "yes" if expected in plan.indexes else "NO"
            rows.append(
                [f"{store.patients:,}", kind, repr(term), statement, verdict, plan.summary()]
            )
    return rows


def main() -> None:
    sc = scale()
    say(
        f"== search: patient search (page of 50 + count) by name and MRN "
        f"({sc.read_rounds} interleaved rounds x {sc.search_samples} searches per kind, "
        f"{load_average()})"
    )
    django_setup(BENCH_DB)
    stores = [open_store(SMALL_DB), open_store(BENCH_DB)]
    rng = random.Random(11)
    for _ in range(sc.read_rounds):
        for store in stores:
            measure(store, sc.search_samples, rng)
    rows = []
    for store in stores:
        for kind, values in store.latencies.items():
            hits = sorted(store.hits[kind])
            rows.append(
                [
                    f"{store.patients:,}",
                    kind,
                    len(values),
                    f"{hits[len(hits) // 2]:,}",
                    ms(percentile(values, 50)),
                    ms(percentile(values, 99)),
                ]
            )
    say(table(["patients", "search", "searches", "median hits", "p50 ms", "p99 ms"], rows))
    say("")
    small, big = stores
    big_plans = plans(big)
    say("plans of the slowest search of each kind (EXPLAIN ANALYZE, run again):")
    say(
        table(
            ["patients", "search", "slowest term", "statement", "expected index", "plan"],
            plans(small) + big_plans,
        )
    )
    say(
        "(on a table of 1,000 rows a sequential scan is the right plan, so only the big store "
        "is judged; '-': no index can serve a 2-letter substring or an unfiltered count)"
    )
    figures = ", ".join(
        f"{kind} {ms(percentile(big.latencies[kind], 99))} ms "
        f"(x{ratio(percentile(big.latencies[kind], 99), percentile(small.latencies[kind], 99), 1)})"
        for kind in HEADLINE_KINDS
    )
    worst = max(("2 letters", "no search"), key=lambda k: percentile(big.latencies[k], 99))
    missing = sorted({row[1] for row in big_plans if row[4] == "NO"})
    verdict = (
        "expected indexes used"
        if not missing
        else f"EXPECTED INDEX NOT USED by the slowest {', '.join(missing)} search"
    )
    say(
        f"search: {big.patients:,} patients, p99 {figures} "
        f"(x = vs {small.patients:,} patients); {verdict}; worst: {worst} "
        f"{ms(percentile(big.latencies[worst], 99))} ms"
    )


if __name__ == "__main__":
    main()
