"""Payers, coverages, claim and payment lists (contract §15): shapes, filters, isolation between
tenants and facilities, and query counts that do not grow with the list."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.billing import selectors
from hm_core.billing.domain import account_stream_id
from hm_core.common.scope import ScopeNotActive
from tests.billing.conftest import (
    adjudicate_body,
    closed_visit,
    make_coverage,
    make_payer,
    seed_catalog,
)
from tests.encounters.conftest import error_of, event_count, make_patient

PAYERS = "/api/billing/payers/"
CLAIMS = "/api/billing/claims/"


def _queries(api, path, params=None):
    with CaptureQueriesContext(connection) as ctx:
        r = api.get(path, params)
    assert r.status_code == 200, r.json()
    return len(ctx.captured_queries)


def _claimed(world, payer, facility=None):
    visit = closed_visit(world, "CBC", facility=facility)
    coverage = make_coverage(world, visit.patient_id, payer["id"])
    api = world.api("admin", facility=facility)
    r = api.post(CLAIMS, {"encounter": str(visit.id), "coverage": coverage["id"]})
    assert r.status_code == 201, r.json()
    return visit, r.json()


# --- payers -----------------------------------------------------------------------------------


def test_payer_is_created_and_listed(billed_world):
    admin = billed_world.api("admin")
    r = admin.post(PAYERS, {"name": "State scheme", "payer_code": "STATE", "kind": "government"})
    make_payer(billed_world, "ACME", "insurer")

    assert r.status_code == 201, r.json()
    assert {k: r.json()[k] for k in ("name", "payer_code", "kind")} == {
        "name": "State scheme", "payer_code": "STATE", "kind": "government"
    }  # fmt: skip
    page = admin.get(PAYERS).json()
    assert page["count"] == 2 and [p["payer_code"] for p in page["items"]] == ["ACME", "STATE"]
    assert [p["payer_code"] for p in admin.get(PAYERS, {"kind": "government"}).json()["items"]] == [
        "STATE"
    ]


def test_payer_code_is_unique_in_the_tenant(billed_world, other_world):
    make_payer(billed_world, "ACME")
    before = event_count(billed_world)

    r = billed_world.api("admin").post(
        PAYERS, {"name": "Again", "payer_code": "ACME", "kind": "insurer"}
    )

    assert r.status_code == 409 and error_of(r)["code"] == "duplicate_payer_code"
    assert event_count(billed_world) == before
    make_payer(other_world, "ACME")  # another tenant may use the code


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "payer_code": "X", "kind": "charity"},
        {"name": "", "payer_code": "X", "kind": "insurer"},
        {"name": "X", "payer_code": "has space", "kind": "insurer"},
        {"name": "X", "payer_code": "X", "kind": "insurer", "extra": 1},
    ],
)
def test_bad_payers_are_422(billed_world, body):
    before = event_count(billed_world)
    r = billed_world.api("admin").post(PAYERS, body)
    assert r.status_code == 422 and error_of(r)["code"] == "validation_error"
    assert event_count(billed_world) == before


def test_unknown_list_filters_are_422(billed_world):
    admin = billed_world.api("admin")
    for path in (PAYERS, CLAIMS, "/api/billing/payments/"):
        r = admin.get(path, {"colour": "red"})
        assert r.status_code == 422 and error_of(r)["code"] == "validation_error", path


# --- coverages --------------------------------------------------------------------------------


def test_coverage_is_added_and_listed_primary_first(billed_world):
    payer = make_payer(billed_world)
    patient = make_patient(billed_world)
    second = make_coverage(billed_world, patient.id, payer["id"], priority=2, member_id="S-9")
    first = make_coverage(
        billed_world, patient.id, payer["id"], group_number="G-1", plan_name="Gold",
        valid_to="2031-12-31", relationship="spouse",
    )  # fmt: skip

    assert first["member_id"] == "MBR-0001" and first["payer"] == payer["id"]
    assert (first["plan_name"], first["valid_to"], first["relationship"]) == (
        "Gold", "2031-12-31", "spouse"
    )  # fmt: skip
    page = billed_world.api("billing_clerk").get(f"/api/patients/{patient.id}/coverages/").json()
    assert [c["id"] for c in page["items"]] == [first["id"], second["id"]]
    assert page["count"] == 2


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"valid_from": "2030-01-01", "valid_to": "2029-12-31"}, "valid_to"),
        ({"priority": 3}, "priority"),
        ({"relationship": "cousin"}, "relationship"),
        ({"member_id": ""}, "member_id"),
    ],
)
def test_bad_coverages_are_422(billed_world, override, field):
    payer, patient = make_payer(billed_world), make_patient(billed_world)
    before = event_count(billed_world)
    body = {"payer": payer["id"], "member_id": "M", "relationship": "self",
            "valid_from": "2020-01-01", "priority": 1, **override}  # fmt: skip

    r = billed_world.api("billing_clerk").post(f"/api/patients/{patient.id}/coverages/", body)

    assert r.status_code == 422 and error_of(r)["code"] == "validation_error", r.json()
    assert field in error_of(r)["details"][0]["field"]
    assert event_count(billed_world) == before


def test_coverage_with_another_tenants_payer_or_patient(billed_world, other_world):
    theirs = make_payer(other_world, "THEIRS")
    patient = make_patient(billed_world)
    clerk = billed_world.api("billing_clerk")
    body = {"payer": theirs["id"], "member_id": "M", "relationship": "self",
            "valid_from": "2020-01-01", "priority": 1}  # fmt: skip

    r = clerk.post(f"/api/patients/{patient.id}/coverages/", body)
    assert r.status_code == 422 and error_of(r)["details"][0]["field"] == "payer"

    their_patient = make_patient(other_world)
    mine = make_payer(billed_world)
    r = clerk.post(f"/api/patients/{their_patient.id}/coverages/", {**body, "payer": mine["id"]})
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert clerk.get(f"/api/patients/{their_patient.id}/coverages/").status_code == 404


# --- isolation --------------------------------------------------------------------------------


def test_claims_and_invoices_of_other_tenants_and_facilities_are_404(billed_world, other_world):
    seed_catalog(other_world)
    _, theirs = _claimed(other_world, make_payer(other_world))
    payer = make_payer(billed_world)
    annex_visit, annex_claim = _claimed(billed_world, payer, facility=billed_world.annex)
    clerk = billed_world.api("billing_clerk")

    for claim in (theirs, annex_claim):
        assert clerk.get(f"{CLAIMS}{claim['id']}/").status_code == 404
        assert clerk.post(f"{CLAIMS}{claim['id']}/submit/").status_code == 404
        r = clerk.post(
            "/api/billing/payments/",
            {"invoice": claim["invoice"], "payer": "patient", "amount": "1", "method": "cash"},
        )
        assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert clerk.get(CLAIMS).json() == {"items": [], "count": 0}
    assert clerk.get(PAYERS).json()["count"] == 1  # payers are tenant-wide, not the rival's
    assert billed_world.api("admin", facility=billed_world.annex).get(CLAIMS).json()["count"] == 1
    r = clerk.post(CLAIMS, {"encounter": str(annex_visit.id)})
    assert r.status_code == 404


def test_selectors_refuse_to_run_outside_a_scope(billed_world):
    with pytest.raises(ScopeNotActive):
        list(
            selectors.claim_list(
                scope=billed_world.scope("admin"), filters=selectors.ClaimFilters()
            )
        )


# --- lists: filters and query counts ----------------------------------------------------------


def test_claim_list_filters(billed_world):
    p1, p2 = make_payer(billed_world, "P1"), make_payer(billed_world, "P2")
    visit, first = _claimed(billed_world, p1)
    _, second = _claimed(billed_world, p2)
    admin = billed_world.api("admin")
    admin.post(f"{CLAIMS}{second['id']}/submit/")

    def ids(**params):
        return [c["id"] for c in admin.get(CLAIMS, params).json()["items"]]

    assert ids() == [second["id"], first["id"]]
    assert ids(status="SUBMITTED") == [second["id"]]
    assert ids(payer=p1["id"]) == [first["id"]]
    assert ids(patient=str(visit.patient_id)) == [first["id"]]
    assert ids(encounter=str(visit.id)) == [first["id"]]
    assert admin.get(CLAIMS, {"status": "PENDING"}).status_code == 422


def test_list_query_counts_do_not_grow(billed_world, django_assert_max_num_queries):
    clerk = billed_world.api("billing_clerk")
    payer = make_payer(billed_world, "P0")
    patient = make_patient(billed_world)
    _bill(billed_world, payer, patient, visits=2)
    paths = [PAYERS, CLAIMS, "/api/billing/payments/", f"/api/patients/{patient.id}/coverages/"]
    small = {path: _queries(clerk, path) for path in paths}
    _bill(billed_world, payer, patient, visits=6)

    for path in paths:
        with django_assert_max_num_queries(small[path]):
            r = clerk.get(path)
        assert r.json()["count"] >= 7, path


def _bill(world, payer, patient, *, visits):
    """`visits` claims and patient payments, coverages for `patient` and more payers."""
    for _ in range(visits):
        make_payer(world, f"P-{uuid.uuid4().hex[:8]}")
        make_coverage(world, patient.id, payer["id"])
        visit, _ = _claimed(world, payer)
        world.api("admin").post(
            "/api/billing/payments/",
            {"invoice": str(account_stream_id(visit.id)), "payer": "patient", "amount": "1",
             "method": "cash"},
        )  # fmt: skip


def test_payment_list_by_invoice(billed_world):
    payer = make_payer(billed_world)
    visit, claim = _claimed(billed_world, payer)
    admin = billed_world.api("admin")
    admin.post(f"{CLAIMS}{claim['id']}/submit/")
    admin.post(f"{CLAIMS}{claim['id']}/adjudicate/", adjudicate_body("50.00", "10.00"))
    invoice = str(account_stream_id(visit.id))
    admin.post("/api/billing/payments/", {"invoice": invoice, "payer": payer["id"],
               "amount": "60", "method": "insurance", "reference": "EFT-9"})  # fmt: skip

    page = admin.get("/api/billing/payments/", {"invoice": invoice}).json()

    assert page["count"] == 1
    assert {k: page["items"][0][k] for k in ("payer", "amount", "claim", "reference")} == {
        "payer": payer["id"], "amount": "60.00", "claim": claim["id"], "reference": "EFT-9"
    }  # fmt: skip
