"""The inbound pipeline, whatever the message does: store then ACK, AR/AE, duplicates, routing.

Handlers are replaced here by small ones that call real services, so these tests pin the
pipeline's guarantees independently of the mapping table (tested in test_adt/orders/results).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import hl7
import pytest
from django.db import IntegrityError, close_old_connections

from hm_core.common.errors import NotFound
from hm_core.events.models import Event
from hm_core.interop.hl7.message import Hl7Error
from hm_core.interop.inbound import receive_http, receive_mllp
from hm_core.interop.mapping import Inbound
from hm_core.interop.models import Message
from hm_core.patients.models import Patient
from hm_core.patients.services import patient_register
from tests.interop.conftest import er7, hl7_fixture, make_channel

MSH = "MSH|^~\\&|{app}|{fac}|HM|HOSP|20260101120000||ADT^A04^ADT_A01|{cid}|P|{ver}"
PID = "PID|1||MRN-1^^^HOSP^MR||Lovelace^Ada||19851210|F"


def _adt(app: str = "LIS", fac: str = "LAB", cid: str = "C1", ver: str = "2.5.1") -> bytes:
    return er7(MSH.format(app=app, fac=fac, cid=cid, ver=ver), "EVN|A04|20260101", PID)


def _register(inbound: Inbound) -> None:
    patient_register(
        scope=inbound.scope,
        demographics={
            "full_name": "Ada Lovelace",
            "mrn": "MRN-1",
            "date_of_birth": dt.date(1985, 12, 10),
            "gender": "F",
        },
    )


def _register_then_fail(inbound: Inbound) -> None:
    _register(inbound)
    raise Hl7Error("Unknown visit.", code="204", location="PV1^1^19")


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install one handler for ADT^A04; returns a setter for tests that need another."""

    def use(fn: Any) -> None:
        monkeypatch.setattr("hm_core.interop.inbound.handlers", lambda: {("ADT", "A04"): fn})

    use(_register)
    return use


def _ack(text: str) -> hl7.Message:
    return hl7.parse(text)


def _post(world: Any, raw: bytes, role: str = "integration", ctype: str = "application/hl7-v2"):
    api = world.api(role)
    return api.client.post("/api/interop/hl7/", data=raw, content_type=ctype, headers=api.headers)


def test_aa_comes_with_the_message_its_log_row_and_its_events_committed(world, handler):
    # when
    response = _post(world, _adt())

    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/hl7-v2")
    ack = _ack(response.content.decode())
    assert str(ack.segment("MSA")(1)) == "AA" and str(ack.segment("MSA")(2)) == "C1"
    row = Message.objects.get()
    assert (row.status, row.direction, row.transport) == ("ACCEPTED", "inbound", "http")
    assert bytes(row.raw) == _adt() and row.ack == response.content.decode()
    patient = Patient.all_tenants.get()
    assert patient.tenant_id == world.tenant.id
    event = Event.objects.get(type="patient.registered")
    assert event.causation_id == row.id and event.actor_username == "integration@acme"


def test_the_ack_swaps_sender_and_receiver_and_keeps_version_and_encoding(world, handler):
    # when
    ack = _ack(_post(world, _adt(ver="2.3")).content.decode())

    # then
    msh = ack.segment("MSH")
    assert (str(msh(3)), str(msh(4)), str(msh(5)), str(msh(6))) == ("HM", "HOSP", "LIS", "LAB")
    assert str(msh(9)) == "ACK^A04^ACK"
    assert str(msh(10)) not in ("", "C1")
    assert str(msh(12)) == "2.3" and str(msh(2)) == "^~\\&"
    assert len(ack) == 2  # MSH and MSA: no ERR on AA


def test_an_application_error_rolls_everything_back_and_keeps_the_raw_bytes(world, handler):
    # given
    handler(_register_then_fail)

    # when
    ack = _ack(_post(world, _adt()).content.decode())

    # then
    assert str(ack.segment("MSA")(1)) == "AE"
    err = ack.segment("ERR")
    assert err.extract_field(1, 3, 1, 1) == "204"
    assert str(err(2)) == "PV1^1^19"
    assert Patient.all_tenants.count() == 0
    assert Event.objects.count() == 0
    row = Message.objects.get()
    assert row.status == "ERROR" and row.error_code == "204" and bytes(row.raw) == _adt()


def test_a_service_refusal_is_an_ae_with_its_code_mapped(world, handler):
    # given
    def missing(inbound: Inbound) -> None:
        raise NotFound(details={"resource": "order"})

    handler(missing)

    # when
    ack = _ack(_post(world, _adt()).content.decode())

    # then
    assert str(ack.segment("MSA")(1)) == "AE"
    assert ack.segment("ERR").extract_field(1, 3, 1, 1) == "204"


def test_an_unexpected_failure_is_ae_207_and_logs_no_patient_data(world, handler, caplog):
    # given
    def boom(inbound: Inbound) -> None:
        raise RuntimeError("Lovelace^Ada broke it")

    handler(boom)

    # when
    with caplog.at_level(logging.INFO, logger="hm_core.interop"):
        ack = _ack(_post(world, _adt()).content.decode())

    # then
    assert ack.segment("ERR").extract_field(1, 3, 1, 1) == "207"
    assert "Lovelace" not in caplog.text and "MRN-1" not in caplog.text
    assert "control_id=C1 status=ERROR" in caplog.text


def test_a_duplicate_control_id_gets_the_first_ack_and_applies_nothing(world, handler):
    # given
    first = _post(world, _adt()).content

    # when
    again = _post(world, _adt()).content

    # then
    assert again == first
    assert Patient.all_tenants.count() == 1
    assert Event.objects.filter(type="patient.registered").count() == 1
    statuses = sorted(Message.objects.values_list("status", flat=True))
    assert statuses == ["ACCEPTED", "DUPLICATE"]


def test_a_duplicate_of_an_error_gets_the_same_ae(world, handler):
    handler(_register_then_fail)
    first = _post(world, _adt()).content
    assert _post(world, _adt()).content == first
    assert Message.objects.filter(status="DUPLICATE").count() == 1


def test_the_same_control_id_from_another_sender_is_another_message(world, handler):
    _post(world, _adt())
    handler(lambda inbound: None)
    ack = _ack(_post(world, _adt(app="RIS")).content.decode())
    assert str(ack.segment("MSA")(1)) == "AA"
    assert Message.objects.filter(status="ACCEPTED").count() == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_copies_at_once_are_applied_once(world, handler):
    # given: both copies wait on one barrier, then post together
    barrier = threading.Barrier(2)
    acks: list[bytes] = []

    def post() -> None:
        try:
            barrier.wait(timeout=5)
            acks.append(_post(world, _adt()).content)
        finally:
            close_old_connections()

    # when
    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then
    assert len(acks) == 2 and acks[0] == acks[1]
    assert Patient.all_tenants.count() == 1
    assert sorted(Message.objects.values_list("status", flat=True)) == ["ACCEPTED", "DUPLICATE"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"hello world", "100"),
        (er7("MSH|^~\\&|LIS|LAB|HM|HOSP|20260101||ADT^A04|C1|P|2.2", PID), "203"),
        (er7("MSH|^~\\&|LIS|LAB|HM|HOSP|20260101||ADT^A99|C1|P|2.5", PID), "201"),
        (er7("MSH|^~\\&|LIS|LAB|HM|HOSP|20260101||ZZZ^Z01|C1|P|2.5", PID), "200"),
        (er7("MSH|^~\\&|LIS|LAB|HM|HOSP|20260101||ADT^A04|C1|P|2.5", "not a segment"), "100"),
        (hl7_fixture("ti_malformed_missing_msh9.hl7"), "101"),
        (hl7_fixture("ti_malformed_msh_only.hl7"), "100"),
        (hl7_fixture("ti_malformed_oml_o21_joined_segments.hl7"), "100"),
    ],
)
def test_unusable_messages_are_ar_with_their_code_and_write_nothing_else(world, handler, raw, code):
    # when
    ack = _ack(_post(world, raw).content.decode())

    # then
    assert str(ack.segment("MSA")(1)) == "AR"
    assert ack.segment("ERR").extract_field(1, 3, 1, 1) == code
    row = Message.objects.get()
    assert row.status == "REJECTED" and bytes(row.raw) == raw and row.tenant_id == world.tenant.id
    assert Event.objects.count() == 0 and Patient.all_tenants.count() == 0


@pytest.mark.parametrize(
    "transform",
    [
        lambda raw: b"\xef\xbb\xbf" + raw,
        lambda raw: raw.replace(b"\r", b"\n"),
        lambda raw: raw.replace(b"\r", b"\r\n") + b"\r\n",
        lambda raw: raw.replace(b"\r", b"   \r") + b"|||",
    ],
    ids=["bom", "lf", "crlf", "trailing-blanks"],
)
def test_tolerated_quirks_are_accepted(world, handler, transform):
    ack = _ack(_post(world, transform(_adt())).content.decode())
    assert str(ack.segment("MSA")(1)) == "AA"


def test_latin_1_messages_are_decoded_by_msh_18(world, monkeypatch):
    # given
    seen: list[str] = []
    monkeypatch.setattr(
        "hm_core.interop.inbound.handlers",
        lambda: {("ADT", "A04"): lambda inb: seen.append(str(inb.message.segment("PID")(5)))},
    )
    msh = "MSH|^~\\&|LIS|LAB|HM|HOSP|20260101||ADT^A04|C9|P|2.3||||||8859/1"
    raw = f"{msh}\rPID|1||M2^^^^MR||Müller^Jürgen||19700101|M".encode("latin-1")

    # when
    response = _post(world, raw)

    # then
    assert seen == ["Müller^Jürgen"]
    assert "charset=latin-1" in response["Content-Type"]
    assert str(_ack(response.content.decode("latin-1")).segment("MSH")(18)) == "8859/1"


def test_mllp_routes_by_msh_3_and_msh_4_to_the_channels_tenant(world, other_world, handler):
    # given
    make_channel(other_world, app="LIS", fac="LAB")

    # when
    receipt = receive_mllp(_adt(), peer="127.0.0.1:5555")

    # then
    assert receipt.status == "ACCEPTED"
    assert Patient.all_tenants.get().tenant_id == other_world.tenant.id
    event = Event.objects.get(type="patient.registered")
    assert event.actor_username.startswith("hl7:") and event.facility_id == other_world.main.id


def test_mllp_from_an_unknown_sender_is_ar_and_kept_without_a_tenant(world, handler):
    # given
    make_channel(world, app="LIS", fac="LAB")

    # when
    receipt = receive_mllp(_adt(fac="ELSEWHERE"))

    # then
    assert receipt.status == "REJECTED"
    assert _ack(receipt.ack).segment("ERR").extract_field(1, 3, 1, 1) == "204"
    row = Message.objects.get()
    assert row.tenant_id is None and bytes(row.raw) == _adt(fac="ELSEWHERE")
    assert Patient.all_tenants.count() == 0


def test_mllp_to_an_inactive_channel_is_refused(world, handler):
    channel = make_channel(world, app="LIS", fac="LAB")
    world.api("admin").patch(f"/api/interop/channels/{channel.id}/", {"is_active": False})
    assert receive_mllp(_adt()).status == "REJECTED"


def test_receive_http_takes_the_scope_of_the_request(world, handler):
    receipt = receive_http(_adt(), scope=world.scope("integration"))
    assert receipt.status == "ACCEPTED"
    assert Message.objects.get().channel_id is None


@pytest.mark.parametrize("ctype", ["text/plain", "application/hl7-v2"])
def test_http_accepts_er7_media_types(world, handler, ctype):
    assert _post(world, _adt(), ctype=ctype).status_code == 200


def test_http_refuses_other_media_types_with_415(world, handler):
    response = _post(world, _adt(), ctype="application/json")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert Message.objects.count() == 0


@pytest.mark.parametrize("role", ["doctor", "nurse", "auditor", "receptionist"])
def test_only_integration_and_admin_post_messages(world, handler, role):
    assert _post(world, _adt(), role=role).status_code == 403
    assert Message.objects.count() == 0


def test_admins_may_post_messages(world, handler):
    assert _post(world, _adt(), role="admin").status_code == 200


def test_the_integration_role_may_do_nothing_else(world):
    api = world.api("integration")
    for path in ("/api/patients/", "/api/encounters/", "/api/interop/messages/", "/api/tasks/"):
        assert api.get(path).status_code == 403, path


def test_http_without_a_token_is_401(world, anonymous):
    response = anonymous.client.post(
        "/api/interop/hl7/", data=_adt(), content_type="application/hl7-v2"
    )
    assert response.status_code == 401


def test_a_unique_key_a_concurrent_writer_took_is_ae_205_with_the_bytes_kept(world, handler):
    # given: a command whose rows collide with a concurrent writer's at flush
    def collides(inbound: Inbound) -> None:
        _register(inbound)
        raise IntegrityError('duplicate key value violates unique constraint "some_other_uniq"')

    handler(collides)

    # when
    ack = _ack(_post(world, _adt()).content.decode())

    # then
    assert str(ack.segment("MSA")(1)) == "AE"
    assert ack.segment("ERR").extract_field(1, 3, 1, 1) == "205"
    assert Patient.all_tenants.count() == 0
    assert Message.objects.get().status == "ERROR"
