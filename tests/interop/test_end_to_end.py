"""Issue 8's "done when", over a real socket with a client written by others (python-hl7's
MLLPClient): a registration system admits a patient over MLLP, the doctor orders a potassium in
hm_core, and the outside laboratory's ORU^R01 over MLLP lands as a released result with its
critical alert, acknowledgement task, timeline entries, audit trail and message log — exactly as
a result entered by hand (tests/lab/test_critical.py)."""

from __future__ import annotations

from collections.abc import Callable

import hl7
import pytest
from hl7.client import MLLPClient

from hm_core.events.models import Event
from hm_core.interop.models import Message
from tests.interop.conftest import Running, er7, make_channel
from tests.interop.lab_helpers import seed

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ADT = (
    "MSH|^~\\&|REGSYS|MAIN|HM_CORE|HOSP|20260101080000||ADT^A04^ADT_A01|ADT-1|P|2.5.1",
    "EVN|A04|20260101080000",
    "PID|1||MRN-9001^^^HOSP^MR~123-45-6789^^^SSA^SS||LOVELACE^ADA^A||19851210|F|||"
    "12 St James's Sq^^London^^SW1Y 4LE^GB||+44 20 7946 0000",
    "PV1|1|O|||||||||||||||||V-9001",
    "PV2|||^Fever and cough",
)


def _oru(placer: str) -> bytes:
    return er7(
        "MSH|^~\\&|LIS|REFLAB|HM_CORE|HOSP|20260101093000||ORU^R01^ORU_R01|ORU-1|P|2.5.1",
        "PID|1||MRN-9001^^^HOSP^MR||LOVELACE^ADA",
        f"OBR|1|{placer}|F-77|K^Potassium^L|||20260101090000||||||||||||||||||F",
        "OBX|1|NM|2823-3^Potassium^LN||7.1|mmol/L|3.5-5.1|HH|||F|||20260101092500||^SMITH^JO",
    )


def _send(client: MLLPClient, raw: bytes) -> tuple[str, str]:
    ack = hl7.parse(client.send_message(raw).decode())
    return str(ack.segment("MSA")(1)), str(ack.segment("MSA")(2))


def test_an_oru_over_mllp_lands_as_a_released_critical_result(world, serve: Callable[..., Running]):
    # given: channels for the registration system and the laboratory, a listener, a client
    seed(world)
    make_channel(world, app="REGSYS", fac="MAIN")
    make_channel(world, app="LIS", fac="REFLAB")
    client = MLLPClient("127.0.0.1", serve().port)
    doctor = world.api("doctor")
    try:
        # when the patient is admitted over MLLP
        assert _send(client, er7(*ADT)) == ("AA", "ADT-1")
        patient = doctor.get("/api/patients/", {"search": "MRN-9001"}).json()["items"][0]
        encounter = doctor.get("/api/encounters/", {"patient": patient["id"]}).json()["items"][0]
        assert (encounter["status"], encounter["visit_number"]) == ("CHECKED_IN", "V-9001")

        # and the doctor orders a potassium, which the laboratory reports over MLLP
        order = doctor.post(
            "/api/orders/",
            {
                "encounter": encounter["id"],
                "order_type": "LAB",
                "priority": "STAT",
                "items": [{"service_code": "K"}],
            },
        ).json()
        assert _send(client, _oru(order["placer_order_number"])) == ("AA", "ORU-1")
    finally:
        client.close()

    # then the result is released, flagged and critical
    results = doctor.get("/api/lab/results/", {"encounter": encounter["id"]}).json()["items"]
    assert [(r["status"], r["is_critical"]) for r in results] == [("RELEASED", True)]

    # and the critical alert is open, with an acknowledgement task for the ordering doctor
    alerts = doctor.get("/api/alerts/", {"status": "OPEN"}).json()["items"]
    assert [a["kind"] for a in alerts] == ["critical_result"]
    tasks = doctor.get("/api/tasks/", {"encounter": encounter["id"]}).json()["items"]
    assert any(t["status"] == "OPEN" and "cknowledge" in t["title"] for t in tasks), tasks

    # and the visit cannot close until the alert is acknowledged
    doctor.post(f"/api/encounters/{encounter['id']}/start-consult/")
    doctor.post(f"/api/encounters/{encounter['id']}/assessment/", {"assessment": "Hyperkalaemia"})
    doctor.post(f"/api/encounters/{encounter['id']}/plan/", {"plan": "Repeat K, ECG"})
    closed = doctor.post(f"/api/encounters/{encounter['id']}/close/")
    assert closed.status_code == 409
    assert "no_unacknowledged_critical_alert" in closed.json()["error"]["details"]

    # and the timeline tells the story, the laboratory's part caused by the logged message
    timeline = doctor.get(f"/api/encounters/{encounter['id']}/timeline/", {"limit": 100}).json()
    types = [item["type"] for item in timeline["items"]]
    assert {"encounter.checked_in", "order.placed", "lab.result_released", "alert.raised"} <= set(
        types
    )
    oru_row = Message.objects.get(control_id="ORU-1")
    assert oru_row.status == "ACCEPTED" and oru_row.transport == "mllp"
    released = Event.objects.get(type="lab.result_released")
    assert released.causation_id == oru_row.id and released.actor_username.startswith("hl7:")

    # and the auditor sees it in the patient's trail, and the chain still verifies
    auditor = world.api("auditor")
    trail = auditor.get("/api/audit/events/", {"patient": patient["id"], "limit": 200}).json()
    assert "lab.result_released" in {item["action"] for item in trail["items"]}
    assert auditor.get("/api/audit/verify/").json()["ok"] is True
