"""The contract's OPD walk-through, end to end over HTTP."""

from __future__ import annotations

import pytest

from hm_core.events.models import Event

VITALS = {
    "blood_pressure_systolic": 120,
    "blood_pressure_diastolic": 80,
    "pulse": 72,
    "temperature": 98.6,
    "spo2": 98,
    "respiratory_rate": 16,
}


@pytest.fixture
def nurse(world):
    return world.api("nurse")


@pytest.fixture
def doctor(world):
    return world.api("doctor")


def test_opd_walk_through(world, nurse, doctor):
    # given a registered patient
    r = nurse.post(
        "/api/patients/",
        {"full_name": "Ada Lovelace", "mrn": "MRN-1", "date_of_birth": "1985-12-10", "gender": "F"},
    )
    assert r.status_code == 201, r.json()
    patient = r.json()["id"]

    # when the visit runs from scheduling to close
    r = nurse.post(
        "/api/encounters/",
        {"patient": patient, "reason": "Cough", "scheduled_at": "2030-01-01T09:00:00Z"},
    )
    assert r.status_code == 201, r.json()
    enc = r.json()
    assert enc["status"] == "SCHEDULED" and enc["version"] == 1 and r["ETag"] == '"1"'
    base = f"/api/encounters/{enc['id']}"

    r = nurse.post(f"{base}/check-in/")
    assert r.status_code == 200 and r.json()["status"] == "CHECKED_IN"
    r = nurse.get("/api/tasks/", {"encounter": enc["id"], "status": "OPEN"})
    assert [(t["kind"], t["queue"]) for t in r.json()["items"]] == [("record_vitals", "nursing")]

    r = nurse.post(f"{base}/vitals/", VITALS)
    assert r.status_code == 201, r.json()
    assert r.json()["news2"]["total"] == 0 and r.json()["news2"]["risk"] == "low"

    r = doctor.post(f"{base}/start-consult/")
    assert r.status_code == 200 and r.json()["status"] == "IN_CONSULT"
    r = doctor.post(
        f"{base}/assessment/", {"assessment": "Viral upper respiratory tract infection"}
    )
    assert r.status_code == 200 and r.json()["assessment"].startswith("Viral")
    r = doctor.post(f"{base}/plan/", {"plan": "Fluids and rest"})
    assert r.status_code == 200
    r = doctor.post(f"{base}/close/")
    assert r.status_code == 200, r.json()

    # then
    final = r.json()
    assert final["status"] == "CLOSED" and final["closed_at"] is not None
    r = doctor.get(f"{base}/timeline/")
    assert r.status_code == 200 and r.json()["next"] is None
    assert [item["type"] for item in r.json()["items"]] == [
        "encounter.created",
        "encounter.checked_in",
        "task.created",
        "encounter.vitals_recorded",
        "task.completed",
        "task.created",
        "encounter.consult_started",
        "task.completed",
        "encounter.assessment_recorded",
        "encounter.plan_recorded",
        "encounter.closed",
    ]
    vitals_item = r.json()["items"][3]
    assert vitals_item["summary"].startswith("Vitals recorded: BP 120/80, pulse 72")
    assert "NEWS2 0" in vitals_item["summary"]
    assert vitals_item["actor"]["username"] == "nurse@acme"
    assert (
        Event.objects.filter(tenant_id=world.tenant.id, stream_id=enc["id"]).count()
        == final["version"]
        == 7
    )
    r = nurse.get("/api/tasks/", {"encounter": enc["id"]})
    assert sorted(t["status"] for t in r.json()["items"]) == ["DONE", "DONE"]
