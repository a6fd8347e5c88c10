from __future__ import annotations

import hl7

from hm_core.interop.models import Message
from tests.interop.conftest import er7, hl7_fixture


def _post(api, raw: bytes):
    return api.client.post(
        "/api/interop/hl7/", data=raw, content_type="application/hl7-v2", headers=api.headers
    )


def test_unsupported_message_type_is_rejected_with_ar_200(world):
    api = world.api("integration")
    raw = er7("MSH|^~\\&|LIS|LAB|HM|HOSP|20260101||XYZ^Q99|C1|P|2.5.1", "PID|||123^^^^MR")
    response = _post(api, raw)
    assert response.status_code == 200
    ack = hl7.parse(response.content.decode())
    assert str(ack.segment("MSA")(1)) == "AR"
    assert ack.segment("ERR").extract_field(1, 3, 1, 1) == "200"
    row = Message.objects.get()
    assert row.status == "REJECTED" and bytes(row.raw) == raw


def test_malformed_fixture_is_rejected(world):
    response = _post(world.api("integration"), hl7_fixture("ti_malformed_missing_msh10.hl7"))
    ack = hl7.parse(response.content.decode())
    assert str(ack.segment("MSA")(1)) == "AR"
    assert ack.segment("ERR").extract_field(1, 3, 1, 1) == "101"


def test_channel_create_and_conflict(world, other_world):
    body = {
        "name": "LIS",
        "protocol": "hl7v2",
        "facility_id": str(world.main.id),
        "sending_application": "LIS",
        "sending_facility": "LAB",
    }
    assert world.api("admin").post("/api/interop/channels/", body).status_code == 201
    body["facility_id"] = str(other_world.main.id)
    response = other_world.api("admin").post("/api/interop/channels/", body)
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "channel_conflict"
    assert world.api("doctor").post("/api/interop/channels/", body).status_code == 403
