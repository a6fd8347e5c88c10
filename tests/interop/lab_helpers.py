"""Helpers for the order and result interface tests: posting ER7, reading the ACK, the catalog
the fixtures need (added through the catalog's tables, like the starter seed does: reference
data), and patients and encounters made through the services."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import hl7

from hm_core.catalog.models import Analyte, ServiceItem
from hm_core.catalog.services import catalog_seed
from hm_core.common.scope import scope_active
from hm_core.encounters.models import Encounter
from hm_core.events.models import Event
from hm_core.orders.models import Order
from hm_core.patients.models import Patient
from hm_core.patients.services import patient_register
from tests.conftest import World
from tests.encounters.conftest import make_encounter

# (code, LOINC, unit, reference low, reference high, critical low, critical high)
AnalyteRow = tuple[str, str, str, str | None, str | None, str | None, str | None]


def post(world: World, raw: bytes) -> tuple[Any, hl7.Message]:
    api = world.api("integration")
    response = api.client.post(
        "/api/interop/hl7/", data=raw, content_type="application/hl7-v2", headers=api.headers
    )
    assert response.status_code == 200, response.content
    return response, hl7.parse(response.content.decode())


def msa(ack: hl7.Message) -> str:
    return str(ack.segment("MSA")(1))


def err(ack: hl7.Message) -> tuple[str, str]:
    """ERR-3 code and ERR-2 location as `SEG^seq^field` (empty parts dropped)."""
    segment = ack.segment("ERR")
    parts = [str(segment.extract_field(1, 2, 1, c)) for c in (1, 2, 3)]
    return str(segment.extract_field(1, 3, 1, 1)), "^".join(p for p in parts if p)


def add_service(
    world: World, code: str, loinc: str, analytes: list[AnalyteRow], *, specimen: str = "serum"
) -> None:
    """A LAB service of this site's catalog, with its analytes (ranges as the site set them)."""
    service = ServiceItem.objects.create(
        tenant_id=world.tenant.id,
        code=code,
        name=f"{code} panel",
        loinc_code=loinc,
        order_type="LAB",
        specimen_type=specimen,
        price=Decimal("10.00"),
        currency="USD",
    )
    for order, (a_code, a_loinc, unit, low, high, crit_low, crit_high) in enumerate(analytes):
        Analyte.objects.create(
            service=service,
            code=a_code,
            name=a_code,
            loinc_code=a_loinc,
            unit=unit,
            reference_low=_dec(low),
            reference_high=_dec(high),
            critical_low=_dec(crit_low),
            critical_high=_dec(crit_high),
            order=order,
        )


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def seed(world: World) -> None:
    catalog_seed(tenant_id=world.tenant.id, currency="USD")


def patient_with_mrn(world: World, mrn: str) -> Patient:
    return patient_register(
        scope=world.scope("admin"),
        demographics={
            "full_name": f"Patient {mrn}",
            "mrn": mrn,
            "date_of_birth": date(1960, 1, 1),
            "gender": "U",
            "phone": "",
            "email": "",
            "address": "",
        },
    )


def open_encounter(world: World, mrn: str, stage: str = "CHECKED_IN") -> Encounter:
    """A patient with this MRN and an open encounter at the main facility."""
    return make_encounter(world, stage, patient=patient_with_mrn(world, mrn))


def orders_of(world: World) -> list[Order]:
    with scope_active(world.scope("admin")):
        return list(Order.objects.for_scope(world.scope("admin")).order_by("created_at"))


def event_count(world: World) -> int:
    return Event.objects.filter(tenant_id=world.tenant.id).count()


def new_id() -> str:
    return uuid.uuid4().hex[:10]
