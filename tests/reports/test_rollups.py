"""Per-day rollups (counts and cents per facility, local day and dimension): kept by the
projections in the command's transaction, equal to the fact rows they summarise, after a
rebuild too, and on the facility's local days — including a visit that moves across midnight."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count

from hm_core.common.scope import unscoped
from hm_core.encounters import services as encounters
from hm_core.events.replay import rebuild
from hm_core.reports.models import NOBODY, LabDay, OpdDay, OpdVisit, RevenueDay
from hm_core.reports.percentile import PercentileCont, Population, percentiles_by_rank
from hm_core.reports.projections import UNALLOCATED, allocate
from hm_core.reports.rollups import rollup_rows, rollups_from_facts
from tests.billing.conftest import place
from tests.encounters.conftest import make_encounter, make_patient
from tests.lab.conftest import K_CRITICAL, K_NORMAL
from tests.reports.agreed import agreed_events, publish_agreed
from tests.reports.conftest import events_of, set_zone, walk_visit
from tests.reports.test_lab import released_test

NEW_YORK = ZoneInfo("America/New_York")  # UTC-5 in early March 2026
# 22:30 on 2 March in New York is 03:30 UTC on the 3rd: the UTC day and the local day differ.
LATE_EVENING = datetime(2026, 3, 3, 3, 30, tzinfo=UTC)


def nonzero(found: dict) -> dict:
    """Rollups as {model: {key: {figure: n}}} without zero figures (a row moved away is 0)."""
    return {
        model: {
            key: {name: n for name, n in figures.items() if n}
            for key, figures in rows.items()
            if any(figures.values())
        }
        for model, rows in found.items()
    }


def rollups_and_facts(world) -> tuple[dict, dict]:
    ids = {"tenant_id": world.tenant.id, "facility_id": world.main.id}
    with unscoped("test: comparing a facility's rollups with its fact rows"):
        return nonzero(rollup_rows(**ids)), nonzero(rollups_from_facts(**ids))


@pytest.fixture
def busy(rworld, clock):
    """New York: visits around local midnight, lab results, charges, a claim and payments."""
    set_zone(rworld.main, "America/New_York")
    walk_visit(rworld, clock, check_in=LATE_EVENING, wait=12, visit=30)
    walk_visit(rworld, clock, check_in=LATE_EVENING + timedelta(hours=2), wait=5, visit=20)
    walk_visit(rworld, clock, check_in=LATE_EVENING, cancel=True)
    walk_visit(rworld, clock, check_in=LATE_EVENING - timedelta(hours=8), wait=7)
    walk_visit(rworld, clock, check_in=LATE_EVENING, wait=9, visit=15, role="doctor")
    enc = make_encounter(rworld, "CHECKED_IN")
    for minutes, payload in ((30, K_NORMAL), (95, K_CRITICAL)):
        released_test(rworld, clock, enc, "K", payload, placed=LATE_EVENING, minutes=minutes)
    clock.at(LATE_EVENING)
    billed = make_encounter(rworld, "IN_CONSULT")
    place(rworld, billed, "CBC")
    payer, claim = uuid.uuid4(), uuid.uuid4()
    clerk = rworld.scope("admin")
    with agreed_events("billing.claim_created", "billing.claim_submitted",
                       "billing.claim_adjudicated", "billing.payment_recorded"):  # fmt: skip
        stream = ("claim", claim)
        publish_agreed(clerk, "billing.claim_created", stream=stream, claim_id=claim,
            encounter_id=billed.id, patient_id=billed.patient_id, invoice_id=uuid.uuid4(),
            payer_id=payer, coverage_id=None, currency="USD",
            lines=[{"line": 1, "service_code": "CONSULT", "description": "OPD", "amount": "50.00"},
                   {"line": 2, "service_code": "CBC", "description": "CBC", "amount": "18.00"}],
            total="68.00")  # fmt: skip
        clock.advance(60 * 3)  # submitted the next local day
        publish_agreed(clerk, "billing.claim_submitted", stream=stream, claim_id=claim)
        publish_agreed(clerk, "billing.claim_adjudicated", stream=stream, claim_id=claim,
            status="ADJUDICATED", approved_total="40.00",
            lines=[{"line": 1, "approved_amount": "40.00", "denial_reason": None},
                   {"line": 2, "approved_amount": "0.00", "denial_reason": "no"}])  # fmt: skip
        for who, amount in ((str(payer), "40.00"), ("patient", "10.01")):
            publish_agreed(clerk, "billing.payment_recorded", stream=("payment", uuid.uuid4()),
                payment_id=uuid.uuid4(), invoice_id=uuid.uuid4(), encounter_id=billed.id,
                patient_id=billed.patient_id, claim_id=claim if who != "patient" else None,
                payer=who, amount=amount, currency="USD", method="card",
                reference="r")  # fmt: skip
    return rworld


def test_rollups_equal_the_fact_rows_and_a_rebuild_reproduces_them(busy):
    # given the projections' rollups
    kept, from_facts = rollups_and_facts(busy)

    # when
    with agreed_events("billing.claim_created", "billing.claim_submitted",
                       "billing.claim_adjudicated", "billing.payment_recorded"):  # fmt: skip
        rebuild(["reports"], tenant_ids=[busy.tenant.id])
    rebuilt, rebuilt_facts = rollups_and_facts(busy)

    # then
    assert kept == from_facts
    assert rebuilt == kept and rebuilt_facts == from_facts
    assert kept[OpdDay] and kept[LabDay] and kept[RevenueDay]
    paid = sum(f.get("paid", 0) for f in kept[RevenueDay].values())
    assert paid == 5001  # cents: 40.00 + 10.01


def test_rollups_count_on_the_facility_local_day_not_the_utc_day(busy):
    # given the OPD events, read independently: check-ins put visits on New York days
    created = {e.payload["encounter_id"]: e for e in events_of(busy, "encounter.created")}
    arrived = {e.payload["encounter_id"]: e for e in events_of(busy, "encounter.checked_in")}
    per_day: dict[date, int] = {}
    for encounter_id, event in created.items():
        instant = arrived[encounter_id].occurred_at if encounter_id in arrived else (
            datetime.fromisoformat(event.payload["scheduled_at"]))  # fmt: skip
        day = instant.astimezone(NEW_YORK).date()
        per_day[day] = per_day.get(day, 0) + 1

    # when
    kept = rollups_and_facts(busy)[0][OpdDay]
    body = busy.api().get("/api/reports/opd/", {"from": "2026-03-01", "to": "2026-03-05"}).json()

    # then 03:30 UTC on the 3rd counts on the 2nd (22:30 local), 05:30 UTC on the 3rd (00:30)
    encounters: dict[date, int] = {}
    for (day, _who), figures in kept.items():
        encounters[day] = encounters.get(day, 0) + figures.get("encounters", 0)
    assert {d: n for d, n in encounters.items() if n} == per_day
    assert {row["day"]: row["encounters"] for row in body["rows"]} == {
        d.isoformat(): n for d, n in sorted(per_day.items())
    }
    assert per_day == {date(2026, 3, 2): 6, date(2026, 3, 3): 1}


def test_a_visit_checked_in_after_midnight_moves_to_the_next_local_day(rworld, clock):
    # given a visit scheduled for 23:50 on 2 March in New York
    set_zone(rworld.main, "America/New_York")
    scope = rworld.scope("admin")
    scheduled = datetime(2026, 3, 3, 4, 50, tzinfo=UTC)  # 23:50 EST on the 2nd
    clock.at(scheduled - timedelta(hours=1))
    patient = make_patient(rworld)
    eid = encounters.encounter_create(scope=scope, patient_id=patient.id, reason="Cough",
                                      scheduled_at=scheduled).id  # fmt: skip
    before = rollups_and_facts(rworld)[0][OpdDay]

    # when the patient arrives at 00:10 on the 3rd (local)
    clock.at(datetime(2026, 3, 3, 5, 10, tzinfo=UTC))
    encounters.encounter_check_in(scope=scope, encounter_id=eid)
    after, from_facts = rollups_and_facts(rworld)

    # then the count left the 2nd for the 3rd, and the rollups still equal the rows
    assert before == {(date(2026, 3, 2), NOBODY): {"encounters": 1}}
    assert after[OpdDay] == {(date(2026, 3, 3), NOBODY): {"encounters": 1}}
    assert after == from_facts


def test_a_new_facility_zone_rekeys_the_days(busy):
    # given the late-evening visits on 2 March in New York
    admin = busy.api("admin")

    # when the facility moves its hours to UTC
    r = admin.patch(f"/api/iam/facilities/{busy.main.id}/", {"time_zone": "UTC"})
    assert r.status_code == 200, r.json()
    kept, from_facts = rollups_and_facts(busy)

    # then those visits are on the UTC day, and the rollups equal the re-keyed rows
    assert kept == from_facts
    with unscoped("test"):
        days = set(OpdVisit.all_tenants.filter(tenant_id=busy.tenant.id).values_list(
            "day", flat=True))  # fmt: skip
    assert days == {date(2026, 3, 3), date(2026, 3, 2)}  # the 16:30-local walk stays the 2nd
    body = admin.get("/api/reports/opd/", {"from": "2026-03-03", "to": "2026-03-03"}).json()
    assert body["totals"]["encounters"] >= 4


def test_allocate_splits_to_the_cent_and_sums_exactly():
    # given weights that do not divide the amount evenly
    weights = {"A": Decimal("1"), "B": Decimal("1"), "C": Decimal("1")}

    # when / then the leftover cent goes to the largest remainder, ties by code
    assert allocate(Decimal("10.00"), weights=weights) == {
        "A": Decimal("3.34"), "B": Decimal("3.33"), "C": Decimal("3.33"),
    }  # fmt: skip
    rng = random.Random(7)
    for _ in range(200):
        w = {c: Decimal(rng.randrange(1, 9000)) / 100 for c in "PQRS"[: rng.randrange(1, 5)]}
        amount = Decimal(rng.randrange(1, 100000)) / 100
        shares = allocate(amount, weights=w)
        assert sum(shares.values()) == amount
        assert all(v == v.quantize(Decimal("0.01")) and v > 0 for v in shares.values())
    assert allocate(Decimal("5.00"), weights={}) == {UNALLOCATED: Decimal("5.00")}


def test_a_payment_on_nothing_billed_is_its_own_labelled_row(rworld, clock):
    # given a payment recorded on an encounter with no charge
    clock.at(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    encounter = make_encounter(rworld, "CHECKED_IN")
    with agreed_events("billing.payment_recorded"):
        publish_agreed(rworld.scope("admin"), "billing.payment_recorded",
            stream=("payment", uuid.uuid4()), payment_id=uuid.uuid4(), invoice_id=uuid.uuid4(),
            encounter_id=encounter.id, patient_id=encounter.patient_id, claim_id=None,
            payer="patient", amount="20.00", currency="USD", method="cash",
            reference="deposit")  # fmt: skip

    # when
    body = rworld.api().get("/api/reports/revenue/", {"from": "2026-03-01", "to": "2026-03-31",
                                                      "group_by": "service"}).json()  # fmt: skip

    # then
    assert body["rows"] == [
        {"service": "(unallocated)", "currency": "USD", "billed": "0.00", "claimed": "0.00",
         "approved": "0.00", "paid": "20.00", "outstanding": "-20.00"},
    ]  # fmt: skip


@pytest.mark.postgres_only
def test_percentiles_by_rank_equal_percentile_cont(rworld):
    # given groups of 1 to 12 values with ties (rows written directly: this is the SQL under
    # test, the projections are proven elsewhere)
    rng, day = random.Random(3), date(2026, 3, 2)
    rows = []
    for n in range(1, 13):
        who = uuid.uuid4()
        for _ in range(n):
            rows.append(OpdVisit(
                tenant_id=rworld.tenant.id, facility_id=rworld.main.id,
                encounter_id=uuid.uuid4(), practitioner_id=who, status="CLOSED", day=day,
                wait_minutes=rng.choice([1.5, 2.0, 7.25, rng.random() * 90]),
            ))  # fmt: skip
    with unscoped("test: fact rows for the percentile SQL"):
        OpdVisit.all_tenants.bulk_create(rows)
        facts = OpdVisit.all_tenants.filter(tenant_id=rworld.tenant.id)
        counts = dict(facts.values_list("practitioner_id").annotate(n=Count("pk")))
        population = Population(
            table="reports_opdvisit", value="wait_minutes",
            where="tenant_id = %s AND facility_id = %s AND day >= %s AND day <= %s",
            params=(rworld.tenant.id, rworld.main.id, day, day),
            key="practitioner_id", key_type="uuid",
        )  # fmt: skip

        # when
        found = percentiles_by_rank(population, counts, (0.5, 0.9, 0.0, 1.0))
        expected = {
            (row["practitioner_id"], f): row[str(f)]
            for f in (0.5, 0.9, 0.0, 1.0)
            for row in facts.values("practitioner_id").annotate(
                **{str(f): PercentileCont("wait_minutes", f)})
        }  # fmt: skip

    # then
    assert found.keys() == expected.keys()
    assert all(found[k] == pytest.approx(expected[k], abs=1e-9) for k in expected)
