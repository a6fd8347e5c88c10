"""Charges from the clinical workflow (billing/policies.py), read back through the invoice service.

Consult started → consultation charged; order placed → one charge per item; order cancelled →
its items' charges reversed. All arithmetic is Decimal, to the cent.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from hm_core.billing import domain
from hm_core.billing.services import invoice_view
from hm_core.catalog.models import ServiceItem
from hm_core.encounters import services as encounters
from hm_core.events.models import Event
from hm_core.iam.models import Tenant
from tests.billing.conftest import cancel, item_ids, place, seed_catalog, set_price
from tests.encounters.conftest import make_encounter


def invoice_of(world, encounter):
    return invoice_view(scope=world.scope("billing_clerk"), encounter_id=encounter.id)


def codes(invoice) -> list[str]:
    return [line.code for line in invoice.lines]


def test_consult_and_lab_items_total_85(billed_world):
    # given a visit in consultation
    world = billed_world
    enc = make_encounter(world, "IN_CONSULT")

    # when the doctor orders a CBC, then CRP and potassium
    place(world, enc, "CBC")
    place(world, enc, "CRP", "K")

    # then
    invoice = invoice_of(world, enc)
    assert codes(invoice) == ["CONSULT", "CBC", "CRP", "K"]
    assert [line.amount for line in invoice.lines] == [
        Decimal("50.00"),
        Decimal("18.00"),
        Decimal("12.00"),
        Decimal("5.00"),
    ]
    assert invoice.lines[0].description == "OPD consultation"
    assert (invoice.total, invoice.currency, invoice.status) == (Decimal("85.00"), "USD", "OPEN")


def test_cancelled_items_are_not_charged(billed_world):
    # given 85.00 of charges
    world = billed_world
    enc = make_encounter(world, "IN_CONSULT")
    place(world, enc, "CBC")
    order = place(world, enc, "CRP", "K")

    # when the CRP + K order is cancelled
    cancel(world, order, reason="duplicate")

    # then
    invoice = invoice_of(world, enc)
    assert codes(invoice) == ["CONSULT", "CBC"]
    assert invoice.total == Decimal("68.00")
    reversed_ = Event.objects.filter(tenant_id=world.tenant.id, type="billing.charge_reversed")
    assert sorted(e.payload["reason"] for e in reversed_) == [
        "CRP order item cancelled: duplicate",
        "K order item cancelled: duplicate",
    ]


def test_prices_with_cents_sum_exactly(billed_world):
    # given catalog prices a float sum gets wrong (30.999999999999996)
    world = billed_world
    set_price(world, "CBC", "10.10")
    set_price(world, "CRP", "20.20")
    set_price(world, "K", "0.70")
    enc = make_encounter(world, "CHECKED_IN")  # no consultation yet: no consult charge

    # when
    place(world, enc, "CBC", "CRP", "K")

    # then
    invoice = invoice_of(world, enc)
    assert [str(line.unit_price) for line in invoice.lines] == ["10.10", "20.20", "0.70"]
    assert invoice.total == Decimal("31.00") and str(invoice.total) == "31.00"


def test_an_order_is_charged_at_the_price_it_was_placed_at(billed_world):
    # given a CBC ordered at 18.00
    world = billed_world
    enc = make_encounter(world, "CHECKED_IN")
    place(world, enc, "CBC")

    # when the catalog price changes afterwards
    set_price(world, "CBC", "99.99")

    # then
    assert invoice_of(world, enc).total == Decimal("18.00")


def test_charges_are_events_on_the_account_stream_caused_by_the_clinical_event(billed_world):
    # given
    world = billed_world
    enc = make_encounter(world, "IN_CONSULT")

    # when
    order = place(world, enc, "CBC", "CRP")

    # then the consultation and each item is a charge_posted on the account's own stream
    charges = list(
        Event.objects.filter(tenant_id=world.tenant.id, type="billing.charge_posted").order_by(
            "position"
        )
    )
    account = domain.account_stream_id(enc.id)
    assert {(e.stream_type, e.stream_id) for e in charges} == {("account", account)}
    assert [e.stream_version for e in charges] == [1, 2, 3]
    assert [e.payload["code"] for e in charges] == ["CONSULT", "CBC", "CRP"]
    assert [e.payload["unit_price"] for e in charges] == ["50.00", "18.00", "12.00"]
    items = [str(i) for i in item_ids(world, order)]
    assert [e.payload["order_item_id"] for e in charges] == [None, *items]
    consult = Event.objects.get(tenant_id=world.tenant.id, type="encounter.consult_started")
    placed = Event.objects.get(tenant_id=world.tenant.id, type="order.placed")
    assert [e.causation_id for e in charges] == [consult.id, placed.id, placed.id]
    assert {e.actor_username for e in charges} == {"system"}


def test_charges_leave_the_encounter_version_alone(billed_world):
    # given a consultation that was charged
    world = billed_world
    enc = make_encounter(world, "IN_CONSULT")

    # when the clinician carries on at the encounter version they read
    after = encounters.encounter_record_assessment(
        scope=world.scope("doctor"),
        encounter_id=enc.id,
        assessment="URTI",
        expected_version=enc.version,
    )

    # then the encounter's stream holds its own events only
    stream = Event.objects.filter(tenant_id=world.tenant.id, stream_id=enc.id)
    assert after.version == enc.version + 1 == stream.count()
    assert all(t.startswith("encounter.") for t in stream.values_list("type", flat=True))


def test_the_account_follows_the_encounter(billed_world):
    world = billed_world
    closed, cancelled = make_encounter(world, "CLOSED"), make_encounter(world, "CANCELLED")
    running = make_encounter(world, "VITALS")

    assert invoice_of(world, closed).status == "FINAL"
    assert invoice_of(world, closed).total == Decimal("50.00")
    assert invoice_of(world, cancelled).status == "VOID"
    assert invoice_of(world, running).status == "OPEN"


def test_the_consultation_is_charged_in_the_tenant_currency_of_that_moment(world):
    # given a tenant that bills in Kenyan shillings
    Tenant.objects.filter(id=world.tenant.id).update(currency="KES")
    seed_catalog(world, currency="KES")
    set_price(world, "CONSULT", "1500.00")

    # when
    enc = make_encounter(world, "IN_CONSULT")

    # then
    invoice = invoice_of(world, enc)
    assert (invoice.total, invoice.currency) == (Decimal("1500.00"), "KES")


def test_a_tenant_without_consult_in_its_catalog_still_starts_consults(billed_world, caplog):
    # given a catalog without the consultation
    world = billed_world
    ServiceItem.objects.filter(tenant_id=world.tenant.id, code="CONSULT").delete()

    # when
    with caplog.at_level(logging.WARNING, logger="hm_core.billing.services"):
        enc = make_encounter(world, "IN_CONSULT")

    # then the consultation runs, uncharged, and the gap is logged
    assert enc.status == "IN_CONSULT"
    assert not Event.objects.filter(
        tenant_id=world.tenant.id, type="billing.charge_posted"
    ).exists()
    assert "no active CONSULT service" in caplog.text
    invoice = invoice_of(world, enc)
    assert (invoice.lines, invoice.total) == ([], Decimal("0.00"))
    place(world, enc, "CBC")  # ordered items are still charged
    assert invoice_of(world, enc).total == Decimal("18.00")


def test_a_tenant_without_a_catalog_still_runs_the_whole_visit(world):
    enc = make_encounter(world, "CLOSED")

    assert enc.status == "CLOSED"
    assert not Event.objects.filter(tenant_id=world.tenant.id, type__startswith="billing.").exists()
