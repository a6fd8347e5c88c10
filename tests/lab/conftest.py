"""Laboratory test helpers: the starter catalog, encounters and orders made through services or
the API (never by writing read-model rows), and payload builders from the catalog."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.forms.models import model_to_dict

from hm_core.catalog.selectors import ServiceSpec, service_by_code
from hm_core.catalog.services import catalog_seed
from hm_core.common.time import utcnow
from hm_core.lab.models import LabResult, LabResultVersion, Sample
from tests.conftest import Api, World

LAB_TASKS = ("collect_sample", "enter_result", "verify_result", "acknowledge_critical_result")
K_CRITICAL = {"value": 7.1, "unit": "mmol/L"}
K_NORMAL = {"value": "4.2", "unit": "mmol/L"}


@pytest.fixture
def lab_world(world: World) -> World:
    """The `world` tenant with the starter catalog (CBC whole blood, CRP and K serum, ...)."""
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    return world


def spec(world: World, code: str) -> ServiceSpec:
    found = service_by_code(tenant_id=world.tenant.id, code=code)
    assert found is not None, code
    return found


def normal_payload(world: World, code: str) -> dict[str, Any]:
    """Every analyte of the service at the middle of its reference range, as a mapping."""
    return {
        a.code: {"value": str(_middle(a.reference_low, a.reference_high)), "unit": a.unit}
        for a in spec(world, code).analytes
    }


def _middle(low: Decimal | None, high: Decimal | None) -> Decimal:
    low = Decimal(0) if low is None else low
    high = low * 2 + 1 if high is None else high
    return ((low + high) / 2).quantize(Decimal("0.01"))


def received_now(minutes_ago: int = 5) -> str:
    return (utcnow() - timedelta(minutes=minutes_ago)).isoformat()


def place_order(api: Api, encounter: Any, *codes: str, order_type: str = "LAB") -> dict[str, Any]:
    r = api.post(
        "/api/orders/",
        {
            "encounter": str(encounter.id if hasattr(encounter, "id") else encounter),
            "order_type": order_type,
            "priority": "ROUTINE",
            "items": [{"service_code": code} for code in codes],
        },
    )
    assert r.status_code == 201, r.json()
    return r.json()


def samples_of(api: Api, order: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    r = api.get("/api/lab/samples/", {"order": order["id"], **params})
    assert r.status_code == 200, r.json()
    return r.json()["items"]


def receive(api: Api, sample: dict[str, Any], barcode: str | None = None) -> dict[str, Any]:
    body = {"barcode": barcode or f"BC-{uuid.uuid4().hex[:10]}", "received_at": received_now()}
    r = api.post(f"/api/lab/samples/{sample['id']}/receive/", body)
    assert r.status_code == 200, r.json()
    return r.json()


def enter(api: Api, item_id: Any, payload: dict[str, Any], is_critical: bool = False) -> Any:
    body = {"order_item_id": str(item_id), "result_payload": payload, "is_critical": is_critical}
    return api.post("/api/lab/results/", body)


def item_of(order: dict[str, Any], code: str) -> dict[str, Any]:
    (item,) = [i for i in order["items"] if i["service_code"] == code]
    return item


def lab_tasks(api: Api, encounter_id: Any) -> list[tuple[str, str, str, str]]:
    """The encounter's lab tasks as (kind, queue, status, subject_id), oldest first."""
    r = api.get("/api/tasks/", {"encounter": str(encounter_id), "limit": 200})
    assert r.status_code == 200, r.json()
    return [
        (t["kind"], t["queue"], t["status"], t["subject_id"])
        for t in r.json()["items"]
        if t["kind"] in LAB_TASKS
    ]


def lab_rows(tenant_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every lab read-model row of a tenant, field by field, in a stable order."""
    return {
        model.__name__: [
            model_to_dict(row) | {"pk": str(row.pk)}
            for row in model.all_tenants.filter(tenant_id=tenant_id).order_by("pk")
        ]
        for model in (Sample, LabResult, LabResultVersion)
    }


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]
