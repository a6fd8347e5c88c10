"""Benchmark 3: one timeline page (after=X, limit=50) with 1,000 versus 1,000,000 events stored.

The page is read for the probe encounter that `bench.gen` spread over the whole store, from a
random cursor inside its history, two ways: the selector alone (`timeline_for_encounter`: one
index range scan) and the endpoint's service plus its JSON shaping (`encounter_timeline_view` +
`timeline_out`: encounter lookup, the page, and the audited PHI read, which commits an audit
row). One process alternates between the two stores round by round, so both sides of the ratio
see the same machine. The timeline model promises the page "costs the same with ten events or
a hundred thousand": the ratio should be ~1.
"""

from __future__ import annotations

import random
import time
import uuid
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

PAGE = 50


@dataclass
class Store:
    """One database's probe: who reads, which encounter, where its entries are."""

    db: str
    events: int = 0
    scope: Any = None
    encounter_id: uuid.UUID | None = None
    cursors: list[int] = field(default_factory=list)
    selector: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)


def open_store(db: str) -> Store:
    """Find the probe encounter and the cursors from which a full page follows."""
    from django.db import connection

    from bench.gen import PROBE_REASON
    from bench.world import scope_for, tenant_info
    from hm_core.encounters.models import Encounter
    from hm_core.timeline.models import TimelineEntry

    switch_database(db)
    store = Store(db=db, scope=scope_for(tenant_info(BIG_TENANT), "doctor", "bench-timeline"))
    encounter = Encounter.all_tenants.filter(reason=PROBE_REASON).latest("created_at")
    store.encounter_id = encounter.id
    positions = list(
        TimelineEntry.all_tenants.filter(tenant_id=store.scope.tenant_id, encounter_id=encounter.id)
        .order_by("position")
        .values_list("position", flat=True)
    )
    store.cursors = positions[: len(positions) - PAGE]
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(position), 0) FROM events_tenant_head")
        store.events = int(cursor.fetchone()[0])
    return store


def read_selector(store: Store, after: int) -> int:
    from hm_core.common.scope import scope_active
    from hm_core.timeline.selectors import timeline_for_encounter

    with scope_active(store.scope):
        page = timeline_for_encounter(
            scope=store.scope, encounter_id=store.encounter_id, after=after, limit=PAGE
        )
    return len(page.items)


def read_service(store: Store, after: int) -> int:
    from hm_core.encounters.services import encounter_timeline_view
    from hm_core.timeline.schemas import timeline_out

    page = encounter_timeline_view(
        scope=store.scope, encounter_id=store.encounter_id, after=after, limit=PAGE
    )
    return len(timeline_out(page)["items"])


def measure(store: Store, samples: int, rng: random.Random) -> None:
    """`samples` pages each way from random cursors (after a few unmeasured warm-up pages)."""
    switch_database(store.db)
    for after in rng.sample(store.cursors, min(5, len(store.cursors))):
        read_selector(store, after)
        read_service(store, after)
    for reader, into in ((read_selector, store.selector), (read_service, store.service)):
        for _ in range(samples):
            after = rng.choice(store.cursors)
            started = time.perf_counter()
            count = reader(store, after)
            into.append(time.perf_counter() - started)
            if count != PAGE:
                raise RuntimeError(f"expected a full page of {PAGE}, got {count}")


def explain_page(store: Store) -> str:
    switch_database(store.db)
    after = store.cursors[len(store.cursors) // 2]
    statements = captured_sql(lambda: read_selector(store, after))
    return explain(statements[-1]).summary()


def main() -> None:
    sc = scale()
    say(
        f"== timeline: page of {PAGE} at a random cursor, small vs big store "
        f"({sc.read_rounds} interleaved rounds x {sc.timeline_samples} pages each way, "
        f"{load_average()})"
    )
    django_setup(BENCH_DB)
    stores = [open_store(SMALL_DB), open_store(BENCH_DB)]
    rng = random.Random(7)
    for _ in range(sc.read_rounds):
        for store in stores:
            measure(store, sc.timeline_samples, rng)
    small, big = stores
    rows = []
    for store in stores:
        for name, values in (("selector", store.selector), ("endpoint service", store.service)):
            rows.append(
                [
                    f"{store.events:,}",
                    name,
                    len(values),
                    ms(percentile(values, 50)),
                    ms(percentile(values, 99)),
                ]
            )
    say(table(["events in store", "read", "pages", "p50 ms", "p99 ms"], rows))
    say(
        f"probe encounter: {len(big.cursors) + PAGE} entries spread over the big store; "
        f"plan (big store): {explain_page(big)}"
    )
    say(f"plan (small store): {explain_page(small)}")
    lines = []
    for name, attr in (("selector", "selector"), ("service", "service")):
        a, b = getattr(small, attr), getattr(big, attr)
        lines.append(
            f"{name} p50 {ms(percentile(a, 50))} -> {ms(percentile(b, 50))} ms, "
            f"p99 {ms(percentile(a, 99))} -> {ms(percentile(b, 99))} ms, "
            f"ratio p50 {ratio(percentile(b, 50), percentile(a, 50))} "
            f"p99 {ratio(percentile(b, 99), percentile(a, 99))}"
        )
    say(f"timeline: {small.events:,} vs {big.events:,} events: " + "; ".join(lines))


if __name__ == "__main__":
    main()
