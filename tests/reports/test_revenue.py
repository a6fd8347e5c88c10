"""Revenue report (contract §16): billed from the charge events; claimed, approved and paid
from the agreed claims events; against figures computed here from the stored events."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hm_core.billing.domain import account_stream_id
from hm_core.events.replay import rebuild
from tests.billing.conftest import (
    adjudicate_body,
    cancel,
    closed_visit,
    make_coverage,
    make_payer,
    place,
)
from tests.encounters.conftest import make_encounter
from tests.reports.agreed import agreed_events, publish_agreed
from tests.reports.conftest import events_of, report_rows

URL = "/api/reports/revenue/"
DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLAIMS = (
    "billing.claim_created",
    "billing.claim_submitted",
    "billing.claim_adjudicated",
    "billing.payment_recorded",
)
PARAMS = {"from": "2026-03-01", "to": "2026-03-31"}
CLAIMS_URL = "/api/billing/claims/"


@pytest.fixture
def billed(rworld, clock):
    """Day 1: a visit with CBC + CRP (CRP then cancelled); day 2: a visit with K."""
    clock.at(DAY1)
    first = make_encounter(rworld, "IN_CONSULT")
    place(rworld, first, "CBC")
    order = place(rworld, first, "CRP")
    cancel(rworld, order)
    clock.at(DAY1 + timedelta(days=1))
    second = make_encounter(rworld, "IN_CONSULT")
    place(rworld, second, "K")
    rworld.visits = (first, second)
    return rworld


def billed_from_events(world, key) -> dict:
    """Active charges summed per key, straight from the charge events."""
    charges = {}
    for e in events_of(world, "billing.charge_posted", "billing.charge_reversed"):
        if e.type == "billing.charge_reversed":
            charges.pop(e.payload["charge_id"])
            continue
        amount = Decimal(e.payload["unit_price"]) * e.payload["quantity"]
        charges[e.payload["charge_id"]] = (key(e), amount)
    sums: dict = defaultdict(Decimal)
    for k, amount in charges.values():
        sums[k] += amount
    return {k: f"{v:.2f}" for k, v in sums.items()}


def test_revenue_billed_by_day_and_service_equals_the_charge_events(billed):
    api = billed.api()
    by_day = api.get(URL, {**PARAMS, "group_by": "day"}).json()
    by_service = api.get(URL, {**PARAMS, "group_by": "service"}).json()

    assert {r["day"]: r["billed"] for r in by_day["rows"]} == billed_from_events(
        billed, lambda e: e.occurred_at.date().isoformat()
    )
    assert {r["service"]: r["billed"] for r in by_service["rows"]} == billed_from_events(
        billed, lambda e: e.payload["code"]
    )
    assert {r["service"]: r["billed"] for r in by_service["rows"]} == {
        "CBC": "18.00", "CONSULT": "100.00", "K": "5.00",
    }  # fmt: skip
    assert by_day["totals"] == {
        "currency": "USD", "billed": "123.00", "claimed": "0.00", "approved": "0.00",
        "paid": "0.00", "outstanding": "123.00",
    }  # fmt: skip


def test_revenue_follows_claims_and_payments_by_their_agreed_events(billed):
    first, _second = billed.visits
    clerk = billed.scope("admin")
    payer, claim = uuid.uuid4(), uuid.uuid4()
    with agreed_events(*CLAIMS):
        # given a claim on the first visit (68.00) to a payer: 50 of 68 approved, both pay
        stream = ("claim", claim)
        common = {"claim_id": claim, "encounter_id": first.id, "patient_id": first.patient_id}
        publish_agreed(clerk, "billing.claim_created", stream=stream, **common,
            invoice_id=uuid.uuid4(), payer_id=payer, coverage_id=uuid.uuid4(), currency="USD",
            lines=[{"line": 1, "service_code": "CONSULT", "description": "OPD", "amount": "50.00"},
                   {"line": 2, "service_code": "CBC", "description": "CBC", "amount": "18.00"}],
            total="68.00")  # fmt: skip
        publish_agreed(clerk, "billing.claim_submitted", stream=stream, claim_id=claim)
        publish_agreed(clerk, "billing.claim_adjudicated", stream=stream, claim_id=claim,
            status="ADJUDICATED", approved_total="45.50",
            lines=[{"line": 1, "approved_amount": "45.50", "denial_reason": None},
                   {"line": 2, "approved_amount": "0.00", "denial_reason": "not covered"}])  # fmt: skip
        for who, amount in ((str(payer), "45.50"), ("patient", "22.49")):
            publish_agreed(clerk, "billing.payment_recorded", stream=("payment", uuid.uuid4()),
                payment_id=uuid.uuid4(), invoice_id=uuid.uuid4(), encounter_id=first.id,
                patient_id=first.patient_id, claim_id=claim if who != "patient" else None,
                payer=who, amount=amount, currency="USD", method="transfer",
                reference="r")  # fmt: skip

        # when
        api = billed.api()
        by_payer = api.get(URL, {**PARAMS, "group_by": "payer"}).json()
        by_service = api.get(URL, {**PARAMS, "group_by": "service"}).json()
        before = report_rows(billed.tenant.id)
        rebuild(["reports"], tenant_ids=[billed.tenant.id])
        after = report_rows(billed.tenant.id)

    # then the claimed visit is the payer's, the other the patient's
    assert by_payer["rows"] == [  # a payer id sorts before "patient" (hex digits < "p")
        {"payer": str(payer), "currency": "USD", "billed": "68.00", "claimed": "68.00",
         "approved": "45.50", "paid": "67.99", "outstanding": "0.01"},
        {"payer": "patient", "currency": "USD", "billed": "55.00", "claimed": "0.00",
         "approved": "0.00", "paid": "0.00", "outstanding": "55.00"},
    ]  # fmt: skip
    rows = {r["payer"]: r for r in by_payer["rows"]}
    assert (rows[str(payer)]["paid"], rows[str(payer)]["outstanding"]) == ("67.99", "0.01")
    assert rows["patient"]["billed"] == "55.00"
    assert by_payer["totals"]["paid"] == "67.99"
    services = {r["service"]: r for r in by_service["rows"]}
    assert (services["CONSULT"]["claimed"], services["CONSULT"]["approved"]) == ("50.00", "45.50")
    assert (services["CBC"]["claimed"], services["CBC"]["approved"]) == ("18.00", "0.00")
    # payments spread over the services: the payer's on what it approved (45.50 of CONSULT),
    # the patient's 22.49 over what was still owed (CONSULT 4.50, CBC 18.00), to the cent
    # (the second visit's CONSULT, 50.00, is unpaid)
    assert (services["CONSULT"]["paid"], services["CONSULT"]["outstanding"]) == ("50.00", "50.00")
    assert (services["CBC"]["paid"], services["CBC"]["outstanding"]) == ("17.99", "0.01")
    assert None not in services and "(unallocated)" not in services
    assert by_service["totals"]["paid"] == "67.99"
    assert after == before


def test_revenue_csv_equals_json(billed):
    api = billed.api()
    as_json = api.get(URL, {**PARAMS, "group_by": "service"}).json()["rows"]
    text = api.get(URL, {**PARAMS, "group_by": "service", "format": "csv"}).content.decode()

    assert list(csv.DictReader(io.StringIO(text))) == [
        {k: "" if v is None else str(v) for k, v in row.items()} for row in as_json
    ]


def test_revenue_is_isolated(billed, other_world):
    for api in (billed.api("admin", facility=billed.annex), other_world.api("admin")):
        body = api.get(URL, PARAMS).json()
        assert body["rows"] == []
        assert body["totals"]["billed"] == "0.00"


def test_revenue_needs_reports_view(billed):
    assert billed.api("billing_clerk").get(URL).status_code == 403
    assert billed.api("auditor").get(URL).status_code == 200


def expected_revenue_by_payer(world) -> dict:
    """Per payer of the encounter (its claim's payer, else the patient), from the events."""
    payer_of, sums = {}, defaultdict(lambda: defaultdict(Decimal))
    claim_encounter: dict = {}
    events = events_of(
        world, "billing.charge_posted", "billing.charge_reversed", "billing.claim_created",
        "billing.claim_submitted", "billing.claim_adjudicated", "billing.payment_recorded",
    )  # fmt: skip
    for e in events:
        if e.type == "billing.claim_created":
            claim_encounter[e.payload["claim_id"]] = e.payload
            if e.payload["payer_id"]:
                payer_of[e.payload["encounter_id"]] = e.payload["payer_id"]
    charges = {}
    for e in events:
        p = e.payload
        if e.type == "billing.charge_posted":
            charges[p["charge_id"]] = (p["encounter_id"], Decimal(p["unit_price"]) * p["quantity"])
        elif e.type == "billing.charge_reversed":
            charges.pop(p["charge_id"])
        elif e.type == "billing.claim_submitted":
            claim = claim_encounter[p["claim_id"]]
            sums[claim["encounter_id"]]["claimed"] += Decimal(claim["total"])
        elif e.type == "billing.claim_adjudicated":
            claim = claim_encounter[p["claim_id"]]
            sums[claim["encounter_id"]]["approved"] += Decimal(p["approved_total"])
        elif e.type == "billing.payment_recorded":
            sums[p["encounter_id"]]["paid"] += Decimal(p["amount"])
    for encounter, amount in charges.values():
        sums[encounter]["billed"] += amount
    rows: dict = defaultdict(lambda: defaultdict(Decimal))
    for encounter, figures in sums.items():
        for kind, amount in figures.items():
            rows[payer_of.get(encounter, "patient")][kind] += amount
    return {
        payer: {k: f"{f[k]:.2f}" for k in ("billed", "claimed", "approved", "paid")}
        | {"outstanding": f"{f['billed'] - f['paid']:.2f}"}
        for payer, f in rows.items()
    }


def test_revenue_by_payer_through_the_claims_api_equals_the_events(rworld, clock):
    # given two closed visits: one claimed (80.00; 60.00 approved; payer 45 + patient 20),
    # one the patient pays in part
    clerk = rworld.api("billing_clerk")
    clock.at(DAY1)
    payer = make_payer(rworld)
    insured, uninsured = closed_visit(rworld, "CBC", "CRP"), closed_visit(rworld, "K")
    coverage = make_coverage(rworld, insured.patient_id, payer["id"])
    clock.at(DAY1 + timedelta(days=1))
    claim = clerk.post(CLAIMS_URL, {"encounter": str(insured.id), "coverage": coverage["id"]})
    claim_id = claim.json()["id"]
    assert clerk.post(f"{CLAIMS_URL}{claim_id}/submit/").status_code == 200
    decision = adjudicate_body("50.00", "10.00", "0", reason="Not covered")
    assert clerk.post(f"{CLAIMS_URL}{claim_id}/adjudicate/", decision).status_code == 200
    for visit, who, amount in (
        (insured, payer["id"], "45.00"),
        (insured, "patient", "20.00"),
        (uninsured, "patient", "12.34"),
    ):
        body = {"invoice": str(account_stream_id(visit.id)), "payer": who, "amount": amount,
                "method": "card", "reference": "R"}  # fmt: skip
        assert clerk.post("/api/billing/payments/", body).status_code == 201

    # when
    body = rworld.api().get(URL, {**PARAMS, "group_by": "payer"}).json()

    # then
    got = {row.pop("payer"): row for row in body["rows"]}
    assert {k: {f: v for f, v in row.items() if f != "currency"} for k, row in got.items()} == (
        expected_revenue_by_payer(rworld)
    )
    assert got[payer["id"]] == {
        "currency": "USD", "billed": "80.00", "claimed": "80.00", "approved": "60.00",
        "paid": "65.00", "outstanding": "15.00",
    }  # fmt: skip
    assert body["totals"]["paid"] == "77.34"
