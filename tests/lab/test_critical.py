"""Critical results over HTTP: a potassium of 7.1 mmol/L is critical whatever the client said;
its release raises a critical alert and an acknowledgement task for the ordering doctor, and
the encounter cannot close until the alert is acknowledged."""

from __future__ import annotations

import pytest

from hm_core.events.models import Event
from tests.encounters.conftest import enc_url, make_encounter
from tests.lab.conftest import (
    K_CRITICAL,
    K_NORMAL,
    enter,
    error_of,
    item_of,
    place_order,
    receive,
    samples_of,
)


@pytest.fixture
def doctor(lab_world):
    return lab_world.api("doctor")


@pytest.fixture
def tech(lab_world):
    return lab_world.api("lab_tech")


@pytest.fixture
def tech2(lab_world):
    return lab_world.api("lab_tech2")


def k_result(doctor, tech, encounter, payload, is_critical=False) -> dict:
    """A potassium ordered by the doctor, received and entered by the technologist."""
    order = place_order(doctor, encounter, "K")
    (sample,) = samples_of(tech, order)
    receive(tech, sample)
    r = enter(tech, item_of(order, "K")["id"], payload, is_critical=is_critical)
    assert r.status_code == 201, r.json()
    return r.json()


def verify_and_release(tech, tech2, result) -> dict:
    assert tech2.post(f"/api/lab/results/{result['id']}/verify/").status_code == 200
    r = tech.post(f"/api/lab/results/{result['id']}/release/")
    assert r.status_code == 200, r.json()
    return r.json()


def open_alerts(api, encounter) -> list[dict]:
    r = api.get("/api/alerts/", {"encounter": str(encounter.id), "status": "OPEN"})
    assert r.status_code == 200, r.json()
    return r.json()["items"]


def ack_tasks(api, encounter) -> list[dict]:
    r = api.get("/api/tasks/", {"encounter": str(encounter.id)})
    return [t for t in r.json()["items"] if t["kind"] == "acknowledge_critical_result"]


def test_critical_potassium_blocks_the_close_until_the_ordering_doctor_acknowledges(
    lab_world, doctor, tech, tech2
):
    world = lab_world
    enc = make_encounter(world, "DOCUMENTED")  # vitals, assessment and plan: ready to close

    # when a potassium of 7.1 mmol/L is entered as not critical
    result = k_result(doctor, tech, enc, K_CRITICAL, is_critical=False)

    # then it is stored critical, flagged HH, with the value as exact text
    assert result["is_critical"] is True and result["status"] == "ENTERED"
    assert result["values"] == [
        {"code": "K", "value": "7.1", "unit": "mmol/L", "flag": "HH", "reference_range": "3.5-5.1"}
    ]
    assert open_alerts(doctor, enc) == []  # not before the clinicians can see it

    # when it is verified and released
    released = verify_and_release(tech, tech2, result)
    assert released["status"] == "RELEASED" and released["is_critical"] is True

    # then an open critical alert names the ordering doctor ...
    (alert,) = open_alerts(doctor, enc)
    doctor_id = str(world.users["doctor"].id)
    assert (alert["kind"], alert["severity"], alert["status"]) == (
        "critical_result",
        "critical",
        "OPEN",
    )
    assert alert["message"] == "Critical K result: K 7.1 mmol/L HH"
    assert alert["assignee_id"] == doctor_id
    assert (alert["source_type"], alert["source_id"]) == ("lab_result", result["id"])
    assert alert["patient_id"] == str(enc.patient_id)
    # ... who has an acknowledgement task assigned to them, still open
    r = doctor.get("/api/tasks/", {"assignee": "me", "status": "OPEN"})
    (task,) = r.json()["items"]
    assert (task["kind"], task["queue"], task["status"]) == (
        "acknowledge_critical_result",
        "doctor",
        "OPEN",
    )
    assert (task["assignee_id"], task["assignee_username"]) == (doctor_id, "doctor@acme")
    assert task["subject_id"] == alert["id"] and task["encounter_id"] == str(enc.id)

    # when the doctor tries to close the visit
    r = doctor.post(enc_url(enc, "close"))

    # then the close gate refuses it because of the critical alert alone
    assert r.status_code == 409
    assert error_of(r)["code"] == "close_gate_failed"
    assert error_of(r)["details"] == ["no_unacknowledged_critical_alert"]

    # when the doctor acknowledges the alert
    r = doctor.post(f"/api/alerts/{alert['id']}/acknowledge/", {"note": "Repeat K, ECG"})
    assert r.status_code == 200, r.json()

    # then the acknowledgement task is done and the visit closes
    (task,) = ack_tasks(doctor, enc)
    assert task["status"] == "DONE" and task["completed_at"] is not None
    r = doctor.post(enc_url(enc, "close"))
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CLOSED"


def test_the_client_may_flag_a_normal_value_critical(lab_world, doctor, tech, tech2):
    enc = make_encounter(lab_world, "CHECKED_IN")
    result = k_result(doctor, tech, enc, K_NORMAL, is_critical=True)
    assert result["is_critical"] is True and result["values"][0]["flag"] == ""
    verify_and_release(tech, tech2, result)
    (alert,) = open_alerts(doctor, enc)
    assert alert["message"] == "Critical K result: K 4.2 mmol/L"


def test_a_normal_result_raises_no_alert(lab_world, doctor, tech, tech2):
    enc = make_encounter(lab_world, "CHECKED_IN")
    verify_and_release(tech, tech2, k_result(doctor, tech, enc, K_NORMAL))
    assert open_alerts(doctor, enc) == []
    assert ack_tasks(doctor, enc) == []


def test_a_correction_to_a_critical_value_raises_a_new_alert(lab_world, doctor, tech, tech2):
    # given a released normal potassium
    enc = make_encounter(lab_world, "CHECKED_IN")
    result = verify_and_release(tech, tech2, k_result(doctor, tech, enc, K_NORMAL))

    # when it is corrected to 7.1
    r = tech.post(
        f"/api/lab/results/{result['id']}/correct/",
        {"result_payload": K_CRITICAL, "reason": "Wrong sample tube transcribed"},
    )

    # then the corrected version is critical and the ordering doctor must acknowledge it
    assert r.status_code == 201, r.json()
    assert r.json()["is_critical"] is True
    (alert,) = open_alerts(doctor, enc)
    assert alert["source_version"] == 2
    (task,) = ack_tasks(doctor, enc)
    assert task["assignee_id"] == str(lab_world.users["doctor"].id)


def _released_critical(lab_world, doctor, tech, tech2):
    """A visit ready to close, held by a released critical potassium: (encounter, alert, task)."""
    enc = make_encounter(lab_world, "DOCUMENTED")
    verify_and_release(tech, tech2, k_result(doctor, tech, enc, K_CRITICAL))
    (alert,) = open_alerts(doctor, enc)
    (task,) = ack_tasks(doctor, enc)
    return enc, alert, task


def _work(api, task) -> object:
    for verb in ("claim", "start"):
        r = api.post(f"/api/tasks/{task['id']}/{verb}/")
        assert r.status_code == 200, r.json()
    return api.post(f"/api/tasks/{task['id']}/complete/")


def test_completing_the_acknowledgement_task_acknowledges_the_alert(lab_world, doctor, tech, tech2):
    # given an open critical alert and the doctor's acknowledgement task
    enc, alert, task = _released_critical(lab_world, doctor, tech, tech2)

    # when the doctor completes the task instead of acknowledging the alert
    r = _work(doctor, task)

    # then the task is done and the alert acknowledged by the doctor, as an event it caused
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "DONE"
    assert open_alerts(doctor, enc) == []
    r = doctor.get("/api/alerts/", {"encounter": str(enc.id), "status": "ACKNOWLEDGED"})
    (acknowledged,) = r.json()["items"]
    assert acknowledged["id"] == alert["id"]
    assert acknowledged["acknowledged_by_id"] == str(lab_world.users["doctor"].id)
    completed = Event.objects.get(stream_id=task["id"], type="task.completed")
    ack = Event.objects.get(stream_id=alert["id"], type="alert.acknowledged")
    assert ack.causation_id == completed.id
    # and the close gate opens
    r = doctor.post(enc_url(enc, "close"))
    assert r.status_code == 200, r.json()


def test_someone_who_may_not_acknowledge_cannot_complete_the_acknowledgement_task(
    lab_world, doctor, tech, tech2
):
    # given the doctor's acknowledgement task, taken by a lab technologist
    enc, alert, task = _released_critical(lab_world, doctor, tech, tech2)

    # when the technologist completes it
    r = _work(tech, task)

    # then nothing is acknowledged: refused, the task stays in progress, the alert open
    assert r.status_code == 403, r.json()
    assert error_of(r)["code"] == "permission_denied"
    (still,) = ack_tasks(doctor, enc)
    assert still["status"] == "IN_PROGRESS"
    assert [a["id"] for a in open_alerts(doctor, enc)] == [alert["id"]]
