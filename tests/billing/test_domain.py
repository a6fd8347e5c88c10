"""Billing decisions and money arithmetic: pure Python, no database."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from hm_core.billing import domain
from hm_core.billing.errors import ClaimNotAdjudicated, InvoiceNotFinal, MixedCurrency, Overpayment
from hm_core.common.errors import InvalidTransition

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


# --- claims and payments ----------------------------------------------------------------------

CLAIM, PAYER_ID = uuid.uuid4(), uuid.uuid4()


def final_invoice(*amounts: str) -> domain.Invoice:
    return domain.invoice(
        encounter_id=ENC,
        lines=[line(a) for a in amounts],
        status=domain.FINAL,
        default_currency="USD",
    )


def submitted(*amounts: str) -> domain.ClaimState:
    lines = {n: Decimal(a) for n, a in enumerate(amounts, start=1)}
    return domain.ClaimState(claim_id=CLAIM, status=domain.SUBMITTED, line_amounts=lines)


def test_claim_numbers_the_invoice_lines_and_refuses_an_open_invoice():
    coverage = domain.CoverageTerms(uuid.uuid4(), PAT, PAYER_ID, date(2020, 1, 1), None)
    event = domain.create_claim(
        claim_id=CLAIM, invoice=final_invoice("50", "18"), patient_id=PAT, coverage=coverage,
        diagnoses=[],
    )  # fmt: skip
    assert [(x.line, str(x.amount)) for x in event.lines] == [(1, "50.00"), (2, "18.00")]
    assert event.payer_id == PAYER_ID and str(event.total) == "68.00"
    open_invoice = domain.invoice(
        encounter_id=ENC, lines=[line("5")], status=domain.OPEN, default_currency="USD"
    )
    with pytest.raises(InvoiceNotFinal):
        domain.create_claim(
            claim_id=CLAIM, invoice=open_invoice, patient_id=PAT, coverage=coverage, diagnoses=[]
        )


def test_adjudication_rounds_to_the_cent_and_denies_when_nothing_is_approved():
    decisions = [domain.LineDecision(1, Decimal("10.005")), domain.LineDecision(2, Decimal("0"))]
    [event] = domain.adjudicate(submitted("50", "18"), decisions=decisions)
    assert (event.status, str(event.approved_total)) == ("ADJUDICATED", "10.01")

    zero = [domain.LineDecision(1, Decimal("0")), domain.LineDecision(2, Decimal("0.004"))]
    [denied] = domain.adjudicate(submitted("50", "18"), decisions=zero)
    assert (denied.status, str(denied.approved_total)) == ("DENIED", "0.00")


def test_adjudicating_a_draft_is_an_invalid_transition():
    draft = domain.ClaimState(claim_id=CLAIM, status=domain.DRAFT, line_amounts={1: Decimal(1)})
    with pytest.raises(InvalidTransition):
        domain.adjudicate(draft, decisions=[domain.LineDecision(1, Decimal(1))])


def test_the_patient_owes_what_no_payer_approved_and_the_payer_what_it_approved():
    invoice = domain.invoice(
        encounter_id=ENC, lines=[line("50"), line("18")], status=domain.FINAL,
        default_currency="USD", settlement=domain.Settlement(approved=Decimal("58")),
    )  # fmt: skip
    settled = domain.Settlement(approved=Decimal("58"))
    claim = domain.PayableClaim(CLAIM, Decimal("58.00"), Decimal("0.00"))

    def pay(payer: str, amount: str, claim=None):
        spec = domain.PaymentSpec(uuid.uuid4(), payer, Decimal(amount), "cash", "")
        return domain.record_payment(
            invoice=invoice, settlement=settled, patient_id=PAT, spec=spec, claim=claim
        )

    assert str(invoice.patient_responsibility) == "10.00"
    assert str(pay(domain.PATIENT, "10").amount) == "10.00"
    assert pay(str(PAYER_ID), "58", claim).claim_id == CLAIM
    with pytest.raises(Overpayment):
        pay(domain.PATIENT, "10.01")
    with pytest.raises(Overpayment):
        pay(str(PAYER_ID), "58.01", claim)
    with pytest.raises(ClaimNotAdjudicated):
        pay(str(PAYER_ID), "1")
