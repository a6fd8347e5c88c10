"""Rebuild equals live: billing's read models replayed from the store match the live rows."""

from __future__ import annotations

from hm_core.billing.models import Account, ChargeLine
from hm_core.billing.services import invoice_view
from hm_core.events.replay import rebuild
from tests.billing.conftest import billing_rows, cancel, place, seed_catalog, set_price
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
