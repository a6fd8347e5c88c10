"""Rebuild equals live: the lab's read models (and the tasks the lab workflow opened, with their
assignees) replayed from the store match the live rows, field for field."""

from __future__ import annotations

from django.forms.models import model_to_dict

from hm_core.events.models import Event
from hm_core.events.replay import rebuild
from hm_core.tasks.models import Task
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import (
    K_CRITICAL,
    K_NORMAL,
    enter,
    item_of,
    lab_rows,
    normal_payload,
    place_order,
    receive,
    samples_of,
)


def task_rows(tenant_id) -> list[dict]:
    return [
        model_to_dict(t) | {"pk": str(t.pk)}
        for t in Task.all_tenants.filter(tenant_id=tenant_id).order_by("pk")
    ]


def ok(response) -> None:
    assert response.status_code in (200, 201), response.json()


def run_scenario(world) -> None:
    """Orders, a rejection and recollection, results through release, corrections, a critical
    potassium acknowledged, a cancelled order, and a sample at the annex."""
    doctor, tech, tech2 = world.api("doctor"), world.api("lab_tech"), world.api("lab_tech2")
    enc = make_encounter(world, "IN_CONSULT")
    order = place_order(doctor, enc, "CBC", "CRP", "K")
    blood, serum = samples_of(tech, order)
    receive(tech, blood)
    ok(tech.post(f"/api/lab/samples/{serum['id']}/reject/", {"reason": "Haemolysed"}))
    replacement = samples_of(tech, order, status="PENDING")[0]
    receive(tech, replacement)
    results = [
        enter(tech, item_of(order, "CBC")["id"], normal_payload(world, "CBC")).json(),
        enter(tech, item_of(order, "CRP")["id"], {"value": 3, "unit": "mg/L"}).json(),
        enter(tech, item_of(order, "K")["id"], K_CRITICAL).json(),
    ]
    for result in results:
        ok(tech2.post(f"/api/lab/results/{result['id']}/verify/"))
        ok(tech.post(f"/api/lab/results/{result['id']}/release/"))
    correct = f"/api/lab/results/{results[2]['id']}/correct/"
    ok(tech.post(correct, {"result_payload": K_NORMAL, "reason": "Haemolysis"}))
    alert = doctor.get("/api/alerts/", {"encounter": str(enc.id)}).json()["items"][0]
    ok(doctor.post(f"/api/alerts/{alert['id']}/acknowledge/"))
    cancelled = place_order(doctor, enc, "TSH", "INR")
    ok(doctor.post(f"/api/orders/{cancelled['id']}/cancel/"))
    annex = world.api("admin", facility=world.annex)
    place_order(annex, make_encounter(world, "CHECKED_IN", facility=world.annex), "GLU")


def test_rebuild_reproduces_the_live_lab_rows(lab_world, other_world):
    # given live lab rows in two tenants
    world = lab_world
    run_scenario(world)
    live, tasks = lab_rows(world.tenant.id), task_rows(world.tenant.id)
    assert [len(live[m]) for m in ("Sample", "LabResult", "LabResultVersion")] == [6, 3, 4]
    assert any(t["assignee_id"] for t in tasks)
    events = Event.objects.filter(tenant_id=world.tenant.id).count()

    # when lab and tasks are dropped and replayed
    report = rebuild(["lab", "tasks"], tenant_ids=[world.tenant.id])

    # then every row is back, field for field, and no policy ran (no event was appended)
    assert report.rows_deleted == 13 + len(tasks)
    assert lab_rows(world.tenant.id) == live
    assert task_rows(world.tenant.id) == tasks
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == events


def test_rebuild_twice_changes_nothing(lab_world):
    run_scenario(lab_world)
    rebuild(["lab"], tenant_ids=[lab_world.tenant.id])
    first = lab_rows(lab_world.tenant.id)
    rebuild(["lab"], tenant_ids=[lab_world.tenant.id])
    assert lab_rows(lab_world.tenant.id) == first
