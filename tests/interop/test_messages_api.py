"""The message log: list with filters, detail as an audited PHI read, replay of an ERROR."""

from __future__ import annotations

import datetime as dt
from typing import Any

import hl7
import pytest

from hm_core.audit.models import AuditRecord
from hm_core.common.errors import NotFound
from hm_core.events.models import Event
from hm_core.interop.inbound import receive_mllp
from hm_core.interop.mapping import Inbound
from hm_core.interop.models import Message
from hm_core.patients.models import Patient
from hm_core.patients.services import patient_register
from tests.interop.conftest import er7, make_channel

URL = "/api/interop/messages/"


def _adt(cid: str) -> bytes:
    return er7(
        f"MSH|^~\\&|LIS|LAB|HM|HOSP|20260101||ADT^A04|{cid}|P|2.5.1",
        "PID|1||MRN-7^^^^MR||Hopper^Grace||19061209|F",
    )


def _register(inbound: Inbound) -> None:
    patient_register(
        scope=inbound.scope,
        demographics={
            "full_name": "Grace Hopper",
            "mrn": "MRN-7",
            "date_of_birth": dt.date(1906, 12, 9),
            "gender": "F",
        },
    )


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {("ADT", "A04"): _register}
    monkeypatch.setattr("hm_core.interop.inbound.handlers", lambda: table)
    return table


def _post(world: Any, raw: bytes) -> bytes:
    api = world.api("integration")
    return api.client.post(
        "/api/interop/hl7/", data=raw, content_type="application/hl7-v2", headers=api.headers
    ).content


def test_the_log_lists_messages_newest_first_without_their_bodies(world, handlers):
    # given
    _post(world, _adt("C1"))
    _post(world, b"garbage")

    # when
    page = world.api("auditor").get(URL).json()

    # then
    assert page["count"] == 2
    first, second = page["items"]
    assert first["status"] == "REJECTED" and second["status"] == "ACCEPTED"
    assert second["message_type"] == "ADT^A04" and second["control_id"] == "C1"
    assert set(second) >= {
        "id",
        "channel",
        "direction",
        "message_type",
        "control_id",
        "status",
        "error",
        "attempts",
        "received_at",
        "processed_at",
    }
    assert "raw" not in second and "ack" not in second


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "ACCEPTED"}, ["C1"]),
        ({"status": "REJECTED"}, [""]),
        ({"control_id": "C1"}, ["C1"]),
        ({"direction": "outbound"}, []),
        ({"direction": "inbound"}, ["", "C1"]),
    ],
)
def test_the_log_filters(world, handlers, params, expected):
    _post(world, _adt("C1"))
    _post(world, b"garbage")
    items = world.api("admin").get(URL, params).json()["items"]
    assert sorted(i["control_id"] for i in items) == expected


def test_the_log_filters_by_channel(world, handlers):
    channel = make_channel(world, app="LIS", fac="LAB")
    receive_mllp(_adt("M1"))
    _post(world, _adt("H1"))
    items = world.api("admin").get(URL, {"channel": str(channel.id)}).json()["items"]
    assert [i["control_id"] for i in items] == ["M1"]


def test_a_bad_filter_value_is_422(world):
    assert world.api("admin").get(URL, {"status": "LOST"}).status_code == 422


def test_the_detail_shows_raw_and_ack_and_is_an_audited_read(world, handlers):
    # given
    ack = _post(world, _adt("C1")).decode()
    message = Message.objects.get()
    patient = Patient.all_tenants.get()

    # when
    detail = world.api("auditor").get(f"{URL}{message.id}/").json()

    # then
    assert detail["raw"].startswith("MSH|^~\\&|LIS|LAB") and "Hopper^Grace" in detail["raw"]
    assert detail["ack"] == ack
    record = AuditRecord.all_tenants.get(action="interop.message_viewed")
    assert record.patient_id == patient.id and record.actor_username == "auditor@acme"
    assert record.detail["control_id"] == "C1"
    trail = world.api("auditor").get("/api/audit/events/", {"patient": str(patient.id)}).json()
    assert "interop.message_viewed" in [item["action"] for item in trail["items"]]


def test_a_rejected_message_detail_is_audited_without_a_patient(world):
    _post(world, b"garbage")
    message = Message.objects.get()
    assert world.api("admin").get(f"{URL}{message.id}/").status_code == 200
    assert AuditRecord.all_tenants.get(action="interop.message_viewed").patient_id is None


@pytest.mark.parametrize("role", ["doctor", "nurse", "integration", "lab_tech"])
def test_the_log_is_for_admins_and_auditors(world, handlers, role):
    _post(world, _adt("C1"))
    message = Message.objects.get()
    assert world.api(role).get(URL).status_code == 403
    assert world.api(role).get(f"{URL}{message.id}/").status_code == 403
    assert AuditRecord.all_tenants.filter(action="interop.message_viewed").count() == 0


def test_another_tenants_messages_are_invisible(world, other_world, handlers):
    # given
    _post(world, _adt("C1"))
    message = Message.objects.get()

    # then
    outsider = other_world.api("admin")
    assert outsider.get(URL).json() == {"items": [], "count": 0}
    assert outsider.get(f"{URL}{message.id}/").status_code == 404
    assert outsider.post(f"{URL}{message.id}/replay/").status_code == 404


def test_replay_applies_an_error_message_once_its_cause_is_fixed(world, handlers):
    # given: the first time the handler cannot find what it needs
    def not_yet(inbound: Inbound) -> None:
        raise NotFound(details={"resource": "order"})

    handlers[("ADT", "A04")] = not_yet
    first = hl7.parse(_post(world, _adt("C1")).decode())
    assert str(first.segment("MSA")(1)) == "AE"
    message = Message.objects.get()
    handlers[("ADT", "A04")] = _register  # the cause is fixed

    # when
    response = world.api("admin").post(f"{URL}{message.id}/replay/")

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ACCEPTED" and body["attempts"] == 2 and body["error"] == ""
    assert str(hl7.parse(body["ack"]).segment("MSA")(1)) == "AA"
    assert Patient.all_tenants.count() == 1
    assert Event.objects.get(type="patient.registered").causation_id == message.id


def test_a_replay_that_fails_again_stays_error_and_writes_nothing(world, handlers):
    def never(inbound: Inbound) -> None:
        _register(inbound)
        raise NotFound(details={"resource": "order"})

    handlers[("ADT", "A04")] = never
    _post(world, _adt("C1"))
    message = Message.objects.get()

    body = world.api("admin").post(f"{URL}{message.id}/replay/").json()

    assert body["status"] == "ERROR" and body["attempts"] == 2
    assert Patient.all_tenants.count() == 0


def test_only_error_messages_are_replayed(world, handlers):
    _post(world, _adt("C1"))
    message = Message.objects.get()
    response = world.api("admin").post(f"{URL}{message.id}/replay/")
    assert response.status_code == 409
    assert Patient.all_tenants.count() == 1


def test_auditors_may_read_but_not_replay(world, handlers):
    _post(world, b"garbage")
    message = Message.objects.get()
    assert world.api("auditor").post(f"{URL}{message.id}/replay/").status_code == 403
