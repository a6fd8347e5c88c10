"""Histograms of the OPD waits and visit lengths in the day rollups (`OpdDay.waits_from_<edge>`,
`visits_from_<edge>`): kept by the projections in the command's transaction, equal to the
fact rows, rebuilt by `rebuild_projections`, checked by `verify_projections`; and the exact
percentiles that start their index walk at the bucket holding their rank."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count

from hm_core.common.scope import unscoped
from hm_core.events.projection_check import verify_projections
from hm_core.events.replay import rebuild
from hm_core.reports.models import MINUTE_EDGES, OpdDay, OpdVisit, minute_buckets
from hm_core.reports.percentile import (
    PercentileCont,
    Population,
    bucket_of_rank,
    percentiles_by_rank,
)
from hm_core.reports.rollups import minute_edge, rollup_rows, rollups_from_facts
from tests.reports.conftest import events_of, percentile, walk_visit

MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Waits and visit lengths on both sides of bucket edges, on an edge, and past the last edge.
WAITS = (0.5, 4.99, 5, 14.5, 15, 15, 61, 239.99, 240, 300)
LENGTHS = (10, 24.99, 25, 40, 45.5, 90, 179, 181, 250, 600)


def bucket(minutes: float) -> int:
    """Independent of the code under test: the largest edge at or below, else the first."""
    return max((edge for edge in MINUTE_EDGES if edge <= minutes), default=MINUTE_EDGES[0])


def histograms_kept(world) -> dict[str, int]:
    """The facility's histogram columns summed over its day rollups, without the zeros."""
    with unscoped("test: reading a facility's day rollups"):
        rows = OpdDay.all_tenants.filter(tenant_id=world.tenant.id, facility_id=world.main.id)
        columns = (*minute_buckets("waits"), *minute_buckets("visits"))
        sums = {name: sum(getattr(row, name) for row in rows) for name in columns}
    return {name: n for name, n in sums.items() if n}


def rollups(world) -> tuple[dict, dict]:
    ids = {"tenant_id": world.tenant.id, "facility_id": world.main.id}
    with unscoped("test: comparing a facility's rollups with its fact rows"):
        kept, summed = rollup_rows(**ids)[OpdDay], rollups_from_facts(**ids)[OpdDay]
    return kept, {key: {n: v for n, v in f.items() if v} for key, f in summed.items()}


@pytest.fixture
def spread(rworld, clock):
    """Ten visits on 2 March whose waits and lengths fall on and around the bucket edges."""
    for n, (wait, length) in enumerate(zip(WAITS, LENGTHS, strict=True)):
        check_in = MORNING + timedelta(minutes=20 * n)
        walk_visit(rworld, clock, check_in=check_in, wait=wait, visit=wait + length)
    return rworld


def test_minute_edge_is_the_lower_edge_of_the_bucket():
    # given intervals below, on and between the edges, and past the last one
    cases = {-3.0: 0, 0.0: 0, 4.999: 0, 5.0: 5, 5.0001: 5, 239.9: 180, 240.0: 240, 1e5: 240}

    # when / then
    assert {m: minute_edge(m) for m in cases} == cases


def test_bucket_of_rank_starts_at_the_bucket_holding_the_rank():
    # given 2 values below 5, none in [5, 10) and 3 from 10 up
    histogram = ((0, 2), (5, 0), (10, 3))

    # when / then the bucket's edges (the first unbounded below, the last above), how many
    # values lie below it and in it; the empty bucket holds no rank
    first, last = (-math.inf, 5, 0, 2), (10, math.inf, 2, 3)
    assert [bucket_of_rank(histogram, rank) for rank in range(5)] == [first] * 2 + [last] * 3
    with pytest.raises(ValueError, match="beyond"):
        bucket_of_rank(histogram, 5)


def test_histograms_count_each_wait_and_length_in_its_bucket(spread):
    # given the stored events, read independently: wait = check-in → consult start, length =
    # check-in → close, each in the bucket of its minutes
    start, consult, close = "encounter.checked_in", "encounter.consult_started", "encounter.closed"
    at = {
        kind: {e.payload["encounter_id"]: e.occurred_at for e in events_of(spread, kind)}
        for kind in (start, consult, close)
    }
    expected: dict[str, int] = {}
    for kind, metric in ((consult, "waits"), (close, "visits")):
        for encounter_id, end in at[kind].items():
            minutes = (end - at[start][encounter_id]).total_seconds() / 60
            name = f"{metric}_from_{bucket(minutes)}"
            expected[name] = expected.get(name, 0) + 1

    # when
    kept, from_facts = rollups(spread)

    # then
    assert histograms_kept(spread) == expected
    assert expected["waits_from_5"] == 1 and expected["waits_from_15"] == 2  # edges go up
    assert expected["waits_from_240"] == 2 and expected["visits_from_240"] == 4
    assert kept == from_facts


def test_medians_from_the_histograms_equal_the_events(spread):
    # given the waits and visit lengths, from the events
    waits = [float(w) for w in WAITS]
    lengths = [float(w + n) for w, n in zip(WAITS, LENGTHS, strict=True)]

    # when
    body = spread.api().get("/api/reports/opd/", {"from": "2026-03-02", "to": "2026-03-02",
                                                  "group_by": "practitioner"}).json()  # fmt: skip

    # then
    assert body["totals"]["median_wait_minutes"] == round(percentile(waits, 0.5), 2)
    assert body["totals"]["median_visit_minutes"] == round(percentile(lengths, 0.5), 2)
    assert [row["median_wait_minutes"] for row in body["rows"]] == [
        round(percentile(waits, 0.5), 2)
    ]


def test_rebuild_reproduces_the_histograms_and_verify_finds_no_difference(spread):
    # given the histograms the commands kept
    kept = histograms_kept(spread)

    # when
    rebuild(["reports"], tenant_ids=[spread.tenant.id])

    # then
    assert histograms_kept(spread) == kept
    assert verify_projections(spread.tenant.id).differences == []


def test_verify_reports_a_histogram_bucket_edited_by_hand(spread):
    # given one day rollup whose 15-minute bucket of waits was inflated by hand
    with unscoped("test: editing a day rollup by hand"):
        row = OpdDay.all_tenants.filter(tenant_id=spread.tenant.id, waits_from_15__gt=0).get()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE reports_opdday SET waits_from_15 = waits_from_15 + 1 WHERE id = %s",
                [row.id],
            )

    # when
    report = verify_projections(spread.tenant.id)

    # then
    assert [d["fields"] for d in report.differences] == [["waits_from_15"]]


@pytest.mark.postgres_only
def test_percentiles_from_the_bucket_holding_the_rank_equal_percentile_cont(rworld):
    # given groups of 1 to 30 values: ties, values on edges, negative and past the last edge
    # (rows written directly: this is the SQL under test, the projections are proven above)
    rng, day = random.Random(5), date(2026, 3, 2)
    pool = [-2.0, 0.0, 5.0, 5.0, 14.999, 15.0, 240.0, 1000.0]
    rows = [
        OpdVisit(tenant_id=rworld.tenant.id, facility_id=rworld.main.id,
                 encounter_id=uuid.uuid4(), practitioner_id=who, status="IN_CONSULT", day=day,
                 wait_minutes=rng.choice([*pool, rng.random() * 300]))
        for n, who in ((n, uuid.uuid4()) for n in range(1, 31))
        for _ in range(n)
    ]  # fmt: skip
    fractions = (0.5, 0.9, 0.0, 1.0, 0.25)
    with unscoped("test: fact rows for the percentile SQL"):
        OpdVisit.all_tenants.bulk_create(rows)
        ids = {"tenant_id": rworld.tenant.id, "facility_id": rworld.main.id}
        days = rollups_from_facts(**ids)[OpdDay]
        buckets = {
            who: tuple((edge, figures[name]) for edge, name in zip(
                MINUTE_EDGES, minute_buckets("waits"), strict=True))
            for (_day, who), figures in days.items()
        }  # fmt: skip
        total = tuple((edge, sum(b[i][1] for b in buckets.values()))
                      for i, edge in enumerate(MINUTE_EDGES))  # fmt: skip
        facts = OpdVisit.all_tenants.filter(**ids)
        counts = dict(facts.values_list("practitioner_id").annotate(n=Count("pk")))
        where = "tenant_id = %s AND facility_id = %s AND day >= %s AND day <= %s"
        params = (rworld.tenant.id, rworld.main.id, day, day)
        grouped = Population(table="reports_opdvisit", value="wait_minutes", where=where,
                             params=params, key="practitioner_id", key_type="uuid")  # fmt: skip
        whole = Population(table="reports_opdvisit", value="wait_minutes", where=where,
                           params=params)  # fmt: skip

        # when
        found = percentiles_by_rank(grouped, counts, fractions, buckets)
        found |= percentiles_by_rank(whole, {"all": len(rows)}, fractions, {"all": total})
        expected = {
            (row["practitioner_id"], f): row[str(f)]
            for f in fractions
            for row in facts.values("practitioner_id").annotate(
                **{str(f): PercentileCont("wait_minutes", f)})
        }  # fmt: skip
        for f in fractions:
            expected["all", f] = facts.aggregate(v=PercentileCont("wait_minutes", f))["v"]

    # then
    assert sum(n for _, n in total) == len(rows)
    assert found.keys() == expected.keys()
    assert all(found[k] == pytest.approx(expected[k], abs=1e-9) for k in expected)


@pytest.mark.postgres_only
def test_walk_parameters_reach_the_database_unchanged(db):
    # given keys with quotes, commas, backslashes and NULL-like text, and floats at the bounds
    from hm_core.reports.percentile import _array_literal

    texts = ['a"b,c', "back\\slash", "*total*", "", "NULL", "{x}", "it's"]
    floats = [math.inf, -math.inf, math.nextafter(15.0, -math.inf), 1e-300, 0.1]

    # when
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[], %s::float8[], %s::uuid[]",
                       [_array_literal(texts), _array_literal(floats),
                        _array_literal([uuid.UUID(int=5)])])  # fmt: skip
        found = cursor.fetchone()

    # then
    assert found == (texts, floats, [uuid.UUID(int=5)])
