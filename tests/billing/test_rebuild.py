"""Rebuild equals live: billing's read models replayed from the store match the live rows."""

from __future__ import annotations

from hm_core.billing.domain import account_stream_id
from hm_core.billing.models import Account, ChargeLine
from hm_core.billing.services import invoice_view
from hm_core.events.replay import rebuild
from tests.billing.conftest import (
    adjudicate_body,
    billing_rows,
    cancel,
    claim_rows,
    closed_visit,
    make_coverage,
    make_payer,
    place,
    seed_catalog,
    set_price,
)
from tests.encounters.conftest import make_encounter


def run_scenario(world) -> None:
    """Consults, orders, a cancellation, a closed and a cancelled visit, cents, two facilities."""
    enc = make_encounter(world, "IN_CONSULT")
    place(world, enc, "CBC")
    cancel(world, place(world, enc, "CRP", "K"), reason="duplicate")
    set_price(world, "CBC", "10.10")
    set_price(world, "CRP", "20.20")
    early = make_encounter(world, "CHECKED_IN")
    place(world, early, "CBC", "CRP")
    place(world, make_encounter(world, "IN_CONSULT"), "CXR", order_type="IMAGING")
    make_encounter(world, "CLOSED")
    make_encounter(world, "CANCELLED")
    make_encounter(world, "IN_CONSULT", facility=world.annex)


def test_rebuild_reproduces_the_live_billing_rows(billed_world, other_world):
    # given live billing rows in two tenants
    world = billed_world
    run_scenario(world)
    seed_catalog(other_world)
    make_encounter(other_world, "IN_CONSULT")
    live, untouched = billing_rows(world.tenant.id), billing_rows(other_world.tenant.id)
    assert len(live["lines"]) == 10 and len(live["accounts"]) == 6
    assert len(untouched["lines"]) == 1

    # when billing is dropped and replayed for the tenant
    report = rebuild(["billing"], tenant_ids=[world.tenant.id])

    # then every row is back, field for field; the other tenant is untouched
    assert report.rows_deleted == 16
    assert billing_rows(world.tenant.id) == live
    assert billing_rows(other_world.tenant.id) == untouched


def test_rebuild_twice_changes_nothing(billed_world):
    world = billed_world
    enc = make_encounter(world, "IN_CONSULT")
    place(world, enc, "CBC", "CRP")
    rebuild(["billing"], tenant_ids=[world.tenant.id])
    first = billing_rows(world.tenant.id)

    rebuild(["billing"], tenant_ids=[world.tenant.id])

    assert billing_rows(world.tenant.id) == first
    invoice = invoice_view(scope=world.scope("admin"), encounter_id=enc.id)
    assert str(invoice.total) == "80.00"


def test_rebuild_runs_no_policies(billed_world):
    # given
    world = billed_world
    make_encounter(world, "IN_CONSULT")
    lines = ChargeLine.all_tenants.count()

    # when
    rebuild(["billing"], tenant_ids=[world.tenant.id])

    # then no consultation was charged a second time
    assert ChargeLine.all_tenants.count() == lines == 1
    assert Account.all_tenants.count() == 1


def run_claims_scenario(world) -> None:
    """Payers, coverages, a paid claim, a denied one, partial payments, an annex claim."""
    payer, other = make_payer(world, "P1"), make_payer(world, "P2", "corporate")
    admin = world.api("admin")
    scenarios = ((None, ("50.00", "9.99")), (None, ("0", "0")), (world.annex, ("20.00",)))
    for facility, amounts in scenarios:
        codes = ("CBC",) if len(amounts) > 1 else ()
        visit = closed_visit(world, *codes, facility=facility)
        coverage = make_coverage(world, visit.patient_id, payer["id"])
        make_coverage(world, visit.patient_id, other["id"], priority=2)
        api = world.api("admin", facility=facility)
        claim = api.post(
            "/api/billing/claims/", {"encounter": str(visit.id), "coverage": coverage["id"]}
        ).json()
        api.post(f"/api/billing/claims/{claim['id']}/submit/")
        api.post(f"/api/billing/claims/{claim['id']}/adjudicate/", adjudicate_body(*amounts))
        invoice = str(account_stream_id(visit.id))
        for who, amount in ((payer["id"], "20.00"), ("patient", "8.01")):
            api.post(
                "/api/billing/payments/",
                {"invoice": invoice, "payer": who, "amount": amount, "method": "card"},
            )
    assert admin.get("/api/billing/claims/").json()["count"] == 2


def test_rebuild_reproduces_claims_and_payments(billed_world):
    # given claims in every state and payments by both payers
    world = billed_world
    run_claims_scenario(world)
    live = claim_rows(world.tenant.id)
    statuses = sorted(row["status"] for row in live["claims"])
    assert statuses == ["DENIED", "PAID", "PARTIALLY_PAID"]
    assert len(live["payments"]) == 5 and len(live["coverages"]) == 6
    invoice_rows = billing_rows(world.tenant.id)

    # when billing is replayed
    rebuild(["billing"], tenant_ids=[world.tenant.id])

    # then the claims read models are back, field for field
    assert claim_rows(world.tenant.id) == live
    assert billing_rows(world.tenant.id) == invoice_rows
