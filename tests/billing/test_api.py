"""The invoice over HTTP (contract §7): shape and money as strings, who may read it, isolation,
the audit record of the read, mixed currencies, the timeline of charges."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.audit.models import AuditRecord
from hm_core.billing.domain import account_stream_id
from hm_core.billing.selectors import charge_lines_active
from hm_core.common.scope import ScopeNotActive
from hm_core.iam.models import Tenant
from tests.billing.conftest import cancel, invoice_url, place, set_price
from tests.encounters.conftest import enc_url, error_of, make_encounter


@pytest.fixture
def clerk(billed_world):
    return billed_world.api("billing_clerk")


@pytest.fixture
def visit(billed_world):
    """A consultation with CBC, then CRP + K ordered: 85.00."""
    enc = make_encounter(billed_world, "IN_CONSULT")
    place(billed_world, enc, "CBC")
    place(billed_world, enc, "CRP", "K")
    return enc


def test_invoice_lists_lines_and_total_as_decimal_strings(clerk, visit):
    r = clerk.get(invoice_url(visit))

    assert r.status_code == 200, r.json()
    assert r.json() == {
        "id": str(account_stream_id(visit.id)),
        "encounter": str(visit.id),
        "lines": [
            {"code": "CONSULT", "description": "OPD consultation", "quantity": 1,
             "unit_price": "50.00", "amount": "50.00"},
            {"code": "CBC", "description": "Complete blood count", "quantity": 1,
             "unit_price": "18.00", "amount": "18.00"},
            {"code": "CRP", "description": "C-reactive protein", "quantity": 1,
             "unit_price": "12.00", "amount": "12.00"},
            {"code": "K", "description": "Potassium", "quantity": 1,
             "unit_price": "5.00", "amount": "5.00"},
        ],
        "total": "85.00",
        "currency": "USD",
        "status": "OPEN",
        "paid": "0.00",
        "patient_responsibility": "85.00",
        "balance": "85.00",
    }  # fmt: skip


def test_cancelled_order_leaves_the_invoice(billed_world, clerk):
    # given
    enc = make_encounter(billed_world, "IN_CONSULT")
    place(billed_world, enc, "CBC")
    order = place(billed_world, enc, "CRP", "K")

    # when
    cancel(billed_world, order)

    # then
    body = clerk.get(invoice_url(enc)).json()
    assert [line["code"] for line in body["lines"]] == ["CONSULT", "CBC"]
    assert body["total"] == "68.00"


def test_cents_add_up_over_http(billed_world, clerk):
    for code, price in (("CBC", "10.10"), ("CRP", "20.20"), ("K", "0.70")):
        set_price(billed_world, code, price)
    enc = make_encounter(billed_world, "CHECKED_IN")
    place(billed_world, enc, "CBC", "CRP", "K")

    assert clerk.get(invoice_url(enc)).json()["total"] == "31.00"


def test_an_encounter_without_charges_has_an_empty_invoice(billed_world, clerk):
    enc = make_encounter(billed_world, "SCHEDULED")

    body = clerk.get(invoice_url(enc)).json()

    assert (body["lines"], body["total"], body["currency"], body["status"]) == (
        [],
        "0.00",
        "USD",
        "OPEN",
    )


def test_two_currencies_have_no_total(billed_world, clerk):
    # given a consultation charged in USD, then the tenant moves to EUR and reprices the CBC
    enc = make_encounter(billed_world, "IN_CONSULT")
    Tenant.objects.filter(id=billed_world.tenant.id).update(currency="EUR")
    set_price(billed_world, "CBC", "17.00", currency="EUR")
    order = place(billed_world, enc, "CBC")

    # when
    r = clerk.get(invoice_url(enc))

    # then apples are not added to oranges
    assert r.status_code == 409
    assert error_of(r)["code"] == "mixed_currency"
    assert error_of(r)["details"] == {"currencies": ["EUR", "USD"]}
    cancel(billed_world, order)
    assert clerk.get(invoice_url(enc)).json()["total"] == "50.00"


@pytest.mark.parametrize("role", ["billing_clerk", "admin"])
def test_billing_clerk_and_admin_may_read_invoices(billed_world, visit, role):
    assert billed_world.api(role).get(invoice_url(visit)).status_code == 200


@pytest.mark.parametrize("role", ["nurse", "doctor", "lab_tech", "receptionist", "auditor"])
def test_other_roles_may_not_read_invoices(billed_world, visit, role):
    r = billed_world.api(role).get(invoice_url(visit))

    assert r.status_code == 403
    assert error_of(r)["code"] == "permission_denied"


def test_reading_an_invoice_is_an_audited_phi_read(billed_world, clerk, visit):
    clerk.get(invoice_url(visit), headers={"X-Request-ID": "req-invoice-1"})

    record = AuditRecord.all_tenants.get(action="invoice.viewed")
    assert (record.kind, record.patient_id) == ("read", visit.patient_id)
    assert record.actor_username == "billing_clerk@acme"
    assert record.request_id == "req-invoice-1"
    assert record.detail == {"encounter_id": str(visit.id)}


def test_a_refused_read_is_not_recorded_as_a_disclosure(billed_world, visit):
    billed_world.api("nurse").get(invoice_url(visit))

    assert not AuditRecord.all_tenants.filter(action="invoice.viewed").exists()


def test_another_facilitys_encounter_is_not_found(billed_world):
    # given an encounter at the annex, where the clerk has no membership
    enc = make_encounter(billed_world, "IN_CONSULT", facility=billed_world.annex)

    # when the admin asks from the main facility
    r = billed_world.api("admin").get(invoice_url(enc))

    # then
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    at_annex = billed_world.api("admin", facility=billed_world.annex).get(invoice_url(enc))
    assert at_annex.json()["total"] == "50.00"


def test_another_tenants_encounter_is_not_found(billed_world, other_world, visit):
    r = other_world.api("admin").get(invoice_url(visit))

    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert "85" not in r.content.decode()


def test_an_unknown_encounter_is_not_found(clerk):
    r = clerk.get(invoice_url("00000000-0000-4000-8000-000000000000"))

    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


def test_unscoped_billing_reads_fail_closed(billed_world, visit):
    with pytest.raises(ScopeNotActive):
        charge_lines_active(scope=billed_world.scope("admin"), encounter_id=visit.id)


def test_invoice_query_count_does_not_grow_with_its_lines(billed_world, clerk):
    short = make_encounter(billed_world, "IN_CONSULT")
    long = make_encounter(billed_world, "IN_CONSULT")
    place(billed_world, long, "CBC", "CRP", "K", "HB", "ESR")

    with CaptureQueriesContext(connection) as one_line:
        clerk.get(invoice_url(short))
    with CaptureQueriesContext(connection) as six_lines:
        assert len(clerk.get(invoice_url(long)).json()["lines"]) == 6

    assert len(six_lines) == len(one_line)


def test_charges_appear_on_the_encounter_timeline(billed_world):
    # given
    enc = make_encounter(billed_world, "IN_CONSULT")
    order = place(billed_world, enc, "CBC", "CRP")
    cancel(billed_world, order, reason="wrong patient")

    # when
    r = billed_world.api("doctor").get(enc_url(enc, "timeline"))

    # then
    items = [i for i in r.json()["items"] if i["type"].startswith("billing.")]
    assert [(i["type"], i["summary"]) for i in items] == [
        ("billing.charge_posted", "Charge posted: CONSULT OPD consultation 50.00 USD"),
        ("billing.charge_posted", "Charge posted: CBC Complete blood count 18.00 USD"),
        ("billing.charge_posted", "Charge posted: CRP C-reactive protein 12.00 USD"),
        ("billing.charge_reversed", "Charge reversed: CBC order item cancelled: wrong patient"),
        ("billing.charge_reversed", "Charge reversed: CRP order item cancelled: wrong patient"),
    ]
    assert items[0]["stream"]["type"] == "account" and items[0]["actor"]["username"] == "system"


def test_the_invoice_is_in_the_openapi_schema_with_money_as_strings(anonymous):
    spec = anonymous.get("/api/openapi.json").json()

    operation = spec["paths"]["/api/billing/encounters/{encounter_id}/invoice/"]["get"]
    assert {"200", "403", "404", "409"} <= set(operation["responses"])
    line = spec["components"]["schemas"]["InvoiceLineOut"]["properties"]
    assert line["amount"]["type"] == "string"
