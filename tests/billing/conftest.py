"""Billing test helpers: a tenant with the starter catalog, orders placed through the service.

Clinical state is made through services (encounters via `tests.encounters.conftest`), so the
charges under test are the ones the workflow policies post.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from hm_core.billing.models import Account, ChargeLine, Claim, Coverage, Payer, Payment
from hm_core.catalog.models import ServiceItem
from hm_core.catalog.services import catalog_seed
from hm_core.common.scope import scope_active
from hm_core.encounters import services as encounters
from hm_core.encounters.events import Diagnosis
from hm_core.encounters.models import Encounter
from hm_core.orders import services as orders
from hm_core.orders.models import Order
from hm_core.orders.selectors import order_items
from tests.conftest import World
from tests.encounters.conftest import make_encounter


def invoice_url(encounter: Encounter | uuid.UUID | str) -> str:
    eid = encounter.id if isinstance(encounter, Encounter) else encounter
    return f"/api/billing/encounters/{eid}/invoice/"


def seed_catalog(world: World, currency: str = "USD") -> None:
    catalog_seed(tenant_id=world.tenant.id, currency=currency)


def set_price(world: World, code: str, price: str, currency: str | None = None) -> None:
    """An administrator's catalog edit (reference data, not event-sourced)."""
    fields: dict[str, Any] = {"price": Decimal(price)}
    if currency is not None:
        fields["currency"] = currency
    ServiceItem.objects.filter(tenant_id=world.tenant.id, code=code).update(**fields)


def place(world: World, encounter: Encounter, *codes: str, order_type: str = "LAB") -> Order:
    return orders.order_place(
        scope=world.scope("doctor", facility=_facility(world, encounter)),
        encounter_id=encounter.id,
        order_type=order_type,
        priority="ROUTINE",
        service_codes=list(codes),
    )


def cancel(world: World, order: Order, reason: str = "") -> Order:
    facility = world.main if order.facility_id == world.main.id else world.annex
    return orders.order_cancel(
        scope=world.scope("doctor", facility=facility), order_id=order.id, reason=reason
    )


def item_ids(world: World, order: Order) -> list[uuid.UUID]:
    scope = world.scope("admin")
    with scope_active(scope):
        return [item.id for item in order_items(scope=scope, order_ids=[order.id])[order.id]]


def billing_rows(tenant_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every billing read-model row of a tenant, field by field, in a stable order."""
    return {
        "lines": list(
            ChargeLine.all_tenants.filter(tenant_id=tenant_id).order_by("position").values()
        ),
        "accounts": list(
            Account.all_tenants.filter(tenant_id=tenant_id).order_by("encounter_id").values()
        ),
    }


def _facility(world: World, encounter: Encounter) -> Any:
    return world.main if encounter.facility_id == world.main.id else world.annex


@pytest.fixture
def billed_world(world: World) -> World:
    """The `world` tenant with the starter catalog in USD (CONSULT 50, CBC 18, CRP 12, K 5)."""
    seed_catalog(world)
    return world


# --- Claims and payments (contract §15) ------------------------------------------------------


def claim_rows(tenant_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every claims read-model row of a tenant, field by field, in a stable order."""
    return {
        "payers": list(Payer.all_tenants.filter(tenant_id=tenant_id).order_by("id").values()),
        "coverages": list(Coverage.all_tenants.filter(tenant_id=tenant_id).order_by("id").values()),
        "claims": list(Claim.all_tenants.filter(tenant_id=tenant_id).order_by("id").values()),
        "payments": list(
            Payment.all_tenants.filter(tenant_id=tenant_id).order_by("position").values()
        ),
    }


def make_payer(world: World, code: str = "ACME-HEALTH", kind: str = "insurer") -> dict[str, Any]:
    r = world.api("admin").post(
        "/api/billing/payers/", {"name": f"{code} plan", "payer_code": code, "kind": kind}
    )
    assert r.status_code == 201, r.json()
    return r.json()


def make_coverage(
    world: World, patient_id: uuid.UUID, payer_id: str, **overrides: Any
) -> dict[str, Any]:
    body = {
        "payer": payer_id,
        "member_id": "MBR-0001",
        "relationship": "self",
        "valid_from": "2020-01-01",
        "priority": 1,
        **overrides,
    }
    r = world.api("billing_clerk").post(f"/api/patients/{patient_id}/coverages/", body)
    assert r.status_code == 201, r.json()
    return r.json()


def closed_visit(world: World, *codes: str, facility: Any = None) -> Encounter:
    """A visit with the consultation and `codes` ordered, diagnosed J45.909 and I10, closed."""
    enc = make_encounter(world, "IN_CONSULT", facility=facility)
    if codes:
        place(world, enc, *codes)
    scope = world.scope("admin", facility=facility)
    diagnoses = [Diagnosis(code="J45.909"), Diagnosis(code="I10")]
    encounters.encounter_record_assessment(
        scope=scope, encounter_id=enc.id, assessment="Asthma", diagnoses=diagnoses
    )
    encounters.encounter_record_plan(scope=scope, encounter_id=enc.id, plan="Inhaler")
    return encounters.encounter_close(scope=scope, encounter_id=enc.id)


def adjudicate_body(*amounts: str, reason: str | None = None) -> dict[str, Any]:
    """Decisions for lines 1, 2, ... with the given approved amounts."""
    return {
        "lines": [
            {"line": n, "approved_amount": amount, "denial_reason": reason}
            for n, amount in enumerate(amounts, start=1)
        ]
    }
