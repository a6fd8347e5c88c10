"""Billing decisions and money arithmetic: pure Python, no database."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from hm_core.billing import domain
from hm_core.billing.errors import MixedCurrency

ENC, PAT = uuid.uuid4(), uuid.uuid4()


def line(amount: str, currency: str = "USD", quantity: int = 1) -> domain.InvoiceLine:
    price = Decimal(amount)
    return domain.InvoiceLine("X", "Thing", quantity, price, price * quantity, currency)


def test_line_amount_is_quantity_times_unit_price_to_the_cent():
    assert domain.line_amount(quantity=3, unit_price=Decimal("0.10")) == Decimal("0.30")
    assert str(domain.line_amount(quantity=1, unit_price=Decimal("18"))) == "18.00"


def test_money_rounds_half_up_to_the_minor_unit():
    assert domain.money(Decimal("0.005")) == Decimal("0.01")
    assert domain.money(Decimal("2.344")) == Decimal("2.34")


def test_invoice_total_is_exact_where_float_is_not():
    # given prices whose float sum is 30.999999999999996
    lines = [line("10.10"), line("20.20"), line("0.70")]
    assert 10.10 + 20.20 + 0.70 != 31.0

    # when
    invoice = domain.invoice(encounter_id=ENC, lines=lines, status="OPEN", default_currency="USD")

    # then
    assert invoice.total == Decimal("31.00") and str(invoice.total) == "31.00"


def test_invoice_without_lines_totals_zero_in_the_tenant_currency():
    invoice = domain.invoice(encounter_id=ENC, lines=[], status="OPEN", default_currency="KES")
    assert (str(invoice.total), invoice.currency, invoice.lines) == ("0.00", "KES", [])


def test_invoice_currency_is_the_currency_charged_not_todays_tenant_currency():
    invoice = domain.invoice(
        encounter_id=ENC, lines=[line("5.00", "USD")], status="FINAL", default_currency="EUR"
    )
    assert invoice.currency == "USD"


def test_invoice_refuses_to_add_two_currencies():
    with pytest.raises(MixedCurrency) as caught:
        domain.invoice(
            encounter_id=ENC,
            lines=[line("5.00", "USD"), line("5.00", "EUR")],
            status="OPEN",
            default_currency="USD",
        )
    assert caught.value.code == "mixed_currency" and caught.value.status == 409
    assert caught.value.details == {"currencies": ["EUR", "USD"]}


def test_post_makes_one_event_per_charge_with_its_id_and_price():
    charge_ids = [uuid.uuid4(), uuid.uuid4()]
    specs = [
        domain.ChargeSpec("CONSULT", "OPD consultation", Decimal("50"), "USD"),
        domain.ChargeSpec("CBC", "Complete blood count", Decimal("18.00"), "USD", 2, uuid.uuid4()),
    ]

    events = domain.post(encounter_id=ENC, patient_id=PAT, charges=specs, charge_ids=charge_ids)

    assert [e.charge_id for e in events] == charge_ids
    assert [e.unit_price for e in events] == [Decimal("50.00"), Decimal("18.00")]
    assert events[1].order_item_id == specs[1].order_item_id
    assert events[1].summary() == "Charge posted: 2 x CBC Complete blood count 36.00 USD"
    assert events[0].to_payload()["unit_price"] == "50.00"  # JSON keeps the Decimal exact


def test_post_refuses_a_negative_price():
    with pytest.raises(ValueError, match="invalid charge"):
        domain.post(
            encounter_id=ENC,
            patient_id=PAT,
            charges=[domain.ChargeSpec("X", "X", Decimal("-1"), "USD")],
            charge_ids=[uuid.uuid4()],
        )


def test_reverse_skips_charges_already_reversed():
    active = domain.PostedCharge(uuid.uuid4(), ENC, PAT, "CRP", domain.ACTIVE)
    reversed_ = domain.PostedCharge(uuid.uuid4(), ENC, PAT, "K", domain.REVERSED)

    (event,) = domain.reverse([active, reversed_], reason="order item cancelled")

    assert event.charge_id == active.charge_id
    assert event.summary() == "Charge reversed: CRP order item cancelled"


def test_account_stream_is_stable_and_not_the_encounter_stream():
    assert domain.account_stream_id(ENC) == domain.account_stream_id(ENC) != ENC
