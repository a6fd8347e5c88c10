"""Claims and payments over HTTP (contract §15): the lifecycle with partial approval, denial,
both payers paying, rounding to the cent, every error code, and nothing written on a refusal."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from hm_core.audit.models import AuditRecord
from hm_core.billing.domain import account_stream_id
from hm_core.events.models import Event
from tests.billing.conftest import (
    adjudicate_body,
    closed_visit,
    invoice_url,
    make_coverage,
    make_payer,
    set_price,
)
from tests.encounters.conftest import error_of, event_count, make_encounter, make_patient

CLAIMS = "/api/billing/claims/"
PAYMENTS = "/api/billing/payments/"


@pytest.fixture
def clerk(billed_world):
    return billed_world.api("billing_clerk")


@pytest.fixture
def payer(billed_world):
    return make_payer(billed_world)


@pytest.fixture
def visit(billed_world):
    """A closed visit: CONSULT 50.00, CBC 18.00, CRP 12.00 = 80.00."""
    return closed_visit(billed_world, "CBC", "CRP")


@pytest.fixture
def coverage(billed_world, visit, payer):
    return make_coverage(billed_world, visit.patient_id, payer["id"])


def _claim(clerk, visit, coverage=None):
    body = {"encounter": str(visit.id)}
    if coverage is not None:
        body["coverage"] = coverage["id"]
    r = clerk.post(CLAIMS, body)
    assert r.status_code == 201, r.json()
    return r.json()


def _submitted(clerk, visit, coverage=None):
    claim = _claim(clerk, visit, coverage)
    r = clerk.post(f"{CLAIMS}{claim['id']}/submit/")
    assert r.status_code == 200, r.json()
    return r.json()


def _adjudicate(clerk, claim, body):
    return clerk.post(f"{CLAIMS}{claim['id']}/adjudicate/", body)


def _pay(clerk, visit, payer, amount, method="transfer"):
    body = {
        "invoice": str(account_stream_id(visit.id)),
        "payer": payer,
        "amount": amount,
        "method": method,
        "reference": "REF-1",
    }
    return clerk.post(PAYMENTS, body)


def test_claim_is_built_from_the_final_invoice_with_its_diagnoses(clerk, visit, coverage, payer):
    claim = _claim(clerk, visit, coverage)

    assert claim["status"] == "DRAFT"
    assert claim["invoice"] == str(account_stream_id(visit.id))
    assert claim["payer"] == payer["id"] and claim["coverage"] == coverage["id"]
    assert claim["patient"] == str(visit.patient_id)
    assert claim["lines"] == [
        {"line": 1, "service_code": "CONSULT", "description": "OPD consultation",
         "amount": "50.00", "approved_amount": None, "denial_reason": None},
        {"line": 2, "service_code": "CBC", "description": "Complete blood count",
         "amount": "18.00", "approved_amount": None, "denial_reason": None},
        {"line": 3, "service_code": "CRP", "description": "C-reactive protein",
         "amount": "12.00", "approved_amount": None, "denial_reason": None},
    ]  # fmt: skip
    assert claim["total"] == "80.00" and claim["currency"] == "USD"
    assert claim["diagnoses"] == [
        {"code": "J45.909", "system": "icd10"},
        {"code": "I10", "system": "icd10"},
    ]
    event = Event.objects.get(stream_id=claim["id"])
    assert event.type == "billing.claim_created"
    assert event.payload["lines"][0] == {
        "line": 1, "service_code": "CONSULT", "description": "OPD consultation", "amount": "50.00"
    }  # fmt: skip
    assert event.payload["total"] == "80.00" and event.payload["payer_id"] == payer["id"]


def test_partial_approval_then_both_payers_pay_the_invoice_off(clerk, visit, coverage, payer):
    # given a submitted claim
    claim = _submitted(clerk, visit, coverage)
    assert claim["status"] == "SUBMITTED"

    # when the payer approves 50 + 10 of 80
    body = adjudicate_body("50.00", "10.00", "0", reason=None)
    body["lines"][1]["denial_reason"] = "Above the contracted rate"
    body["lines"][2]["denial_reason"] = "Not covered"
    r = _adjudicate(clerk, claim, body)

    # then the claim is adjudicated line by line and the patient owes the rest
    assert r.status_code == 200, r.json()
    claim = r.json()
    assert claim["status"] == "ADJUDICATED" and claim["approved_total"] == "60.00"
    assert [(x["approved_amount"], x["denial_reason"]) for x in claim["lines"]] == [
        ("50.00", None),
        ("10.00", "Above the contracted rate"),
        ("0.00", "Not covered"),
    ]
    invoice = clerk.get(invoice_url(visit)).json()
    assert (invoice["paid"], invoice["patient_responsibility"], invoice["balance"]) == (
        "0.00",
        "20.00",
        "80.00",
    )

    # when the payer pays part, then the rest, and the patient pays the share
    assert _pay(clerk, visit, payer["id"], "45.00", "insurance").status_code == 201
    assert clerk.get(f"{CLAIMS}{claim['id']}/").json()["status"] == "PARTIALLY_PAID"
    assert _pay(clerk, visit, payer["id"], "15.00", "insurance").status_code == 201
    paid_claim = clerk.get(f"{CLAIMS}{claim['id']}/").json()
    assert (paid_claim["status"], paid_claim["paid"]) == ("PAID", "60.00")
    r = _pay(clerk, visit, "patient", "20.00", "card")
    assert r.status_code == 201, r.json()
    assert r.json()["claim"] is None and r.json()["payer"] == "patient"

    # then the invoice is settled
    invoice = clerk.get(invoice_url(visit)).json()
    assert (invoice["paid"], invoice["patient_responsibility"], invoice["balance"]) == (
        "80.00",
        "20.00",
        "0.00",
    )
    payments = Event.objects.filter(
        stream_id=account_stream_id(visit.id), type="billing.payment_recorded"
    ).order_by("position")
    assert [(e.payload["payer"], e.payload["amount"]) for e in payments] == [
        (payer["id"], "45.00"),
        (payer["id"], "15.00"),
        ("patient", "20.00"),
    ]


def test_denied_claim_leaves_everything_to_the_patient(clerk, visit, coverage, payer):
    claim = _submitted(clerk, visit, coverage)

    r = _adjudicate(clerk, claim, adjudicate_body("0", "0.00", "0", reason="Policy lapsed"))

    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "DENIED" and r.json()["approved_total"] == "0.00"
    invoice = clerk.get(invoice_url(visit)).json()
    assert invoice["patient_responsibility"] == "80.00"
    # the payer owes nothing on a denied claim
    assert error_of(_pay(clerk, visit, payer["id"], "1.00"))["code"] == "claim_not_adjudicated"
    # a denied claim may be claimed again
    assert _claim(clerk, visit, coverage)["status"] == "DRAFT"
    assert _pay(clerk, visit, "patient", "80.00", "cash").status_code == 201
    assert clerk.get(invoice_url(visit)).json()["balance"] == "0.00"


def test_payments_and_approvals_round_to_the_cent(billed_world, clerk, payer):
    for code, price in (("CBC", "10.10"), ("CRP", "20.20")):
        set_price(billed_world, code, price)
    visit = closed_visit(billed_world, "CBC", "CRP")
    coverage = make_coverage(billed_world, visit.patient_id, payer["id"])
    claim = _submitted(clerk, visit, coverage)

    r = _adjudicate(clerk, claim, adjudicate_body("33.335", "10.004", "20.195"))

    assert r.status_code == 200, r.json()
    assert [x["approved_amount"] for x in r.json()["lines"]] == ["33.34", "10.00", "20.20"]
    assert r.json()["approved_total"] == "63.54"
    assert clerk.get(invoice_url(visit)).json()["patient_responsibility"] == "16.76"
    r = _pay(clerk, visit, "patient", "16.755")
    assert r.status_code == 201 and r.json()["amount"] == "16.76"
    assert _pay(clerk, visit, payer["id"], 63.54).json()["amount"] == "63.54"
    assert clerk.get(invoice_url(visit)).json()["balance"] == "0.00"


def test_overpayment_is_refused_and_writes_nothing(billed_world, clerk, visit, coverage, payer):
    claim = _submitted(clerk, visit, coverage)
    _adjudicate(clerk, claim, adjudicate_body("50.00", "18.00", "0"))
    before = event_count(billed_world)

    by_patient = _pay(clerk, visit, "patient", "12.01")
    by_payer = _pay(clerk, visit, payer["id"], "68.01")

    assert by_patient.status_code == 422 and by_payer.status_code == 422
    assert error_of(by_patient)["code"] == "overpayment"
    assert error_of(by_patient)["details"] == {"owed": "12.00", "currency": "USD"}
    assert error_of(by_payer)["details"]["owed"] == "68.00"
    assert event_count(billed_world) == before


def test_a_patient_without_insurance_pays_the_total(billed_world, clerk, visit):
    assert _pay(clerk, visit, "patient", "80.00", "cash").status_code == 201
    r = _pay(clerk, visit, "patient", "0.01", "cash")
    assert r.status_code == 422 and error_of(r)["code"] == "overpayment"


def test_claim_needs_a_final_invoice(billed_world, clerk, payer):
    enc = make_encounter(billed_world, "IN_CONSULT")
    make_coverage(billed_world, enc.patient_id, payer["id"])
    before = event_count(billed_world)

    r = clerk.post(CLAIMS, {"encounter": str(enc.id)})
    paid = _pay(clerk, enc, "patient", "1.00")

    assert r.status_code == 409 and error_of(r)["code"] == "invoice_not_final"
    assert paid.status_code == 409 and error_of(paid)["code"] == "invoice_not_final"
    assert event_count(billed_world) == before


def test_claim_goes_to_the_primary_valid_coverage_when_none_is_named(billed_world, clerk, visit):
    primary, secondary = make_payer(billed_world, "P1"), make_payer(billed_world, "P2")
    make_coverage(billed_world, visit.patient_id, secondary["id"], priority=2)
    make_coverage(billed_world, visit.patient_id, primary["id"], valid_to="2021-12-31")
    current = make_coverage(billed_world, visit.patient_id, primary["id"], member_id="M-2")

    claim = _claim(clerk, visit)

    assert claim["coverage"] == current["id"] and claim["payer"] == primary["id"]


def test_claim_coverage_errors(billed_world, clerk, visit, payer):
    assert error_of(clerk.post(CLAIMS, {"encounter": str(visit.id)}))["code"] == (
        "coverage_required"
    )
    expired = make_coverage(billed_world, visit.patient_id, payer["id"], valid_to="2021-12-31")
    r = clerk.post(CLAIMS, {"encounter": str(visit.id), "coverage": expired["id"]})
    assert r.status_code == 422 and error_of(r)["code"] == "coverage_inactive"
    other = make_coverage(billed_world, make_patient(billed_world).id, payer["id"])
    r = clerk.post(CLAIMS, {"encounter": str(visit.id), "coverage": other["id"]})
    assert r.status_code == 422 and error_of(r)["details"][0]["field"] == "coverage"
    assert not Event.objects.filter(type="billing.claim_created").exists()


def test_coverage_validity_is_judged_on_the_facility_s_local_day(billed_world, clerk, payer):
    # given a visit in a facility whose local date differs from the UTC date of its check-in
    # (UTC-12 before noon UTC, UTC+14 after), and a coverage valid on that local day only
    enc = closed_visit(billed_world, "CBC")
    came = enc.checked_in_at
    zone = "Etc/GMT+12" if came.astimezone(UTC).hour < 12 else "Pacific/Kiritimati"
    billed_world.main.time_zone = zone
    billed_world.main.save(update_fields=["time_zone"])
    local_day = came.astimezone(ZoneInfo(zone)).date()
    assert local_day != came.astimezone(UTC).date()
    day = local_day.isoformat()
    make_coverage(billed_world, enc.patient_id, payer["id"], valid_from=day, valid_to=day)

    # when the claim picks the patient's coverage, then it is valid on the day the patient came
    assert _claim(clerk, enc)["payer"] == payer["id"]


def test_a_second_live_claim_on_one_coverage_is_a_conflict(billed_world, clerk, visit, coverage):
    _claim(clerk, visit, coverage)
    before = event_count(billed_world)

    r = clerk.post(CLAIMS, {"encounter": str(visit.id), "coverage": coverage["id"]})

    assert r.status_code == 409 and error_of(r)["code"] == "duplicate_claim"
    assert event_count(billed_world) == before


def test_claim_transitions_out_of_order_are_409(clerk, visit, coverage):
    claim = _claim(clerk, visit, coverage)
    r = _adjudicate(clerk, claim, adjudicate_body("1", "1", "1"))
    assert r.status_code == 409 and error_of(r)["code"] == "invalid_transition"
    assert error_of(r)["details"]["from"] == "DRAFT"
    clerk.post(f"{CLAIMS}{claim['id']}/submit/")
    r = clerk.post(f"{CLAIMS}{claim['id']}/submit/")
    assert r.status_code == 409 and error_of(r)["details"]["from"] == "SUBMITTED"


def test_claim_submit_honours_if_match(clerk, visit, coverage):
    claim = _claim(clerk, visit, coverage)
    r = clerk.post(f"{CLAIMS}{claim['id']}/submit/", headers={"If-Match": '"7"'})
    assert r.status_code == 412 and error_of(r)["code"] == "version_mismatch"
    r = clerk.post(f"{CLAIMS}{claim['id']}/submit/", headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            [{"line": 1, "approved_amount": "50.01"}],
            {"field": "lines[0].approved_amount",
             "message": "The approved amount must be between 0.00 and 50.00."},
        ),
        (
            [{"line": 4, "approved_amount": "1"}],
            {"field": "lines[0].line", "message": "The claim has no line 4."},
        ),
        (
            [{"line": 2, "approved_amount": "1"}, {"line": 2, "approved_amount": "1"}],
            {"field": "lines[1].line", "message": "Line 2 is repeated."},
        ),
        (
            [{"line": 2, "approved_amount": "1"}],
            {"field": "lines", "message": "Lines [1, 3] have no decision."},
        ),
    ],
)  # fmt: skip
def test_adjudication_must_match_the_claim(billed_world, clerk, visit, coverage, lines, problem):
    claim = _submitted(clerk, visit, coverage)
    before = event_count(billed_world)

    r = _adjudicate(clerk, claim, {"lines": lines})

    assert r.status_code == 422 and error_of(r)["code"] == "validation_error"
    assert problem in error_of(r)["details"]
    assert event_count(billed_world) == before
    assert clerk.get(f"{CLAIMS}{claim['id']}/").json()["status"] == "SUBMITTED"


@pytest.mark.parametrize(
    "body",
    [
        {"payer": "insurer", "amount": "1.00", "method": "cash"},
        {"payer": "patient", "amount": "-1.00", "method": "cash"},
        {"payer": "patient", "amount": "0.004", "method": "cash"},
        {"payer": "patient", "amount": "NaN", "method": "cash"},
        {"payer": "patient", "amount": "1.00", "method": "cheque"},
        {"payer": "patient", "amount": "1.00", "method": "cash", "currency": "EUR"},
    ],
)
def test_bad_payments_are_422(billed_world, clerk, visit, body):
    before = event_count(billed_world)
    r = clerk.post(PAYMENTS, {"invoice": str(account_stream_id(visit.id)), **body})
    assert r.status_code == 422 and error_of(r)["code"] == "validation_error", r.json()
    assert event_count(billed_world) == before


def test_payment_on_an_unknown_invoice_or_payer(billed_world, clerk, visit):
    r = clerk.post(
        PAYMENTS,
        {"invoice": str(visit.id), "payer": "patient", "amount": "1", "method": "cash"},
    )
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = _pay(clerk, visit, str(visit.id), "1.00")
    assert r.status_code == 422 and error_of(r)["details"][0]["field"] == "payer"


def test_who_may_do_what(billed_world, visit, coverage, payer):
    doctor, nurse = billed_world.api("doctor"), billed_world.api("nurse")
    clerk = billed_world.api("billing_clerk")
    body = {"name": "X", "payer_code": "X", "kind": "corporate"}
    assert error_of(clerk.post("/api/billing/payers/", body))["code"] == "permission_denied"
    assert clerk.get("/api/billing/payers/").status_code == 200
    assert doctor.post(CLAIMS, {"encounter": str(visit.id)}).status_code == 403
    assert doctor.get(CLAIMS).status_code == 403
    assert nurse.get(f"/api/patients/{visit.patient_id}/coverages/").status_code == 403
    assert _pay(doctor, visit, "patient", "1.00").status_code == 403
    admin = billed_world.api("admin")
    assert admin.post(CLAIMS, {"encounter": str(visit.id)}).status_code == 201


def test_reads_of_claims_and_coverages_are_audited(billed_world, clerk, visit, coverage):
    claim = _claim(clerk, visit, coverage)
    clerk.get(f"{CLAIMS}{claim['id']}/")
    clerk.get(CLAIMS)
    clerk.get(f"/api/patients/{visit.patient_id}/coverages/")

    actions = set(
        AuditRecord.all_tenants.filter(patient_id=visit.patient_id).values_list("action", flat=True)
    )
    assert {"claim.viewed", "claim.listed", "coverage.listed"} <= actions


def test_a_payment_retried_with_its_idempotency_key_is_recorded_once(billed_world, clerk, visit):
    body = {"invoice": str(account_stream_id(visit.id)), "payer": "patient", "amount": "30.00",
            "method": "card", "reference": "POS-7"}  # fmt: skip
    key = {"Idempotency-Key": "pay-visit-1"}

    first = clerk.post(PAYMENTS, body, headers=key)
    again = clerk.post(PAYMENTS, body, headers=key)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert clerk.get(invoice_url(visit)).json()["paid"] == "30.00"
    r = clerk.post(PAYMENTS, {**body, "amount": "31.00"}, headers=key)
    assert r.status_code == 422 and error_of(r)["code"] == "idempotency_key_reused"
