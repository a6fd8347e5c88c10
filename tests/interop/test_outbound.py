"""Outbound HL7 (contract §11) against a real MLLP receiver on loopback: ORM^O01 on LAB orders,
ORU^R01 on released and corrected results, ACK handling, retries with backoff, DEAD, replay,
head-of-line order per channel, and who gets nothing (other channels, facilities, tenants)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
import uuid
from typing import Any

import hl7
import pytest
from django.db import connection

from hm_core.catalog.services import catalog_seed
from hm_core.common.scope import scope_active
from hm_core.common.time import utcnow
from hm_core.events import subscriptions
from hm_core.interop.inbound import receive_mllp
from hm_core.interop.models import Message
from hm_core.interop.outbound import outbound_drain_channel, outbound_send_next
from hm_core.interop.services import channel_create
from hm_core.patients.selectors import patient_get
from management.management.commands.run_reconciler import reconcile
from tests.encounters.conftest import make_encounter
from tests.interop.conftest import er7, make_channel
from tests.lab.conftest import enter, item_of, place_order, receive, samples_of

SB, EB, CR = b"\x0b", b"\x1c", b"\r"


class Receiver:
    """An MLLP receiver that answers each message as scripted: AA, AE, AR, `close` (hang up
    without an ACK), `silent` (never answer) or `slow` (AA after 0.3 s); AA once the script
    runs out."""

    def __init__(self, *script: str) -> None:
        self.script, self.messages = list(script), []
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                buffer = b""
                while chunk := self.request.recv(65536):
                    buffer += chunk
                    while EB + CR in buffer:
                        frame, buffer = buffer.split(EB + CR, 1)
                        if not receiver.answer(self.request, frame.lstrip(SB)):
                            return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, sock: socket.socket, frame: bytes) -> bool:
        self.messages.append(hl7.parse(frame.decode("utf-8")))
        action = self.script.pop(0) if self.script else "AA"
        if action == "close":
            return False
        if action == "silent":
            time.sleep(1.5)
            return False
        if action == "slow":
            time.sleep(0.3)
            action = "AA"
        ack = self.messages[-1].create_ack(ack_code=action, application="LIS", facility="LAB")
        if action != "AA":
            ack.segment("MSA").assign_field(f"scripted {action}", 3)
        sock.sendall(SB + str(ack).encode("utf-8") + EB + CR)
        return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(*script: str) -> Receiver:
        made.append(Receiver(*script))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def lab_world(world):
    """The `world` tenant with the starter catalog (CBC, K, CXR, ...)."""
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    return world


@pytest.fixture(autouse=True)
def quick(settings):
    settings.HL7_OUTBOUND_BACKOFF_S = 0  # retries are due at once; tests drive attempts
    settings.HL7_OUTBOUND_MAX_ATTEMPTS = 3
    settings.HL7_OUTBOUND_TIMEOUT_S = 0.5


def lis(world, port, *, events=("order.placed", "lab.result_released"), facility=None):
    """An outbound channel of `facility` (default `main`) to the loopback receiver."""
    return channel_create(
        scope=world.scope("admin"),
        name=f"lis-{uuid.uuid4().hex[:6]}",
        protocol="hl7v2",
        facility_id=(facility or world.main).id,
        sending_application=f"LIS-{uuid.uuid4().hex[:6]}",
        sending_facility="LAB",
        outbound_host="127.0.0.1",
        outbound_port=port,
        outbound_events=list(events),
    )


def outbound(world, channel=None):
    subscriptions.drain(world.tenant.id)
    rows = Message.objects.filter(tenant_id=world.tenant.id, direction="outbound")
    if channel is not None:
        rows = rows.filter(channel_id=channel.id)
    return list(rows.order_by("source_position", "received_at"))


def order_cbc(world, **kw):
    return place_order(world.api("doctor"), make_encounter(world, "IN_CONSULT", **kw), "CBC")


def test_a_lab_order_goes_out_as_orm_o01_and_an_aa_marks_it_sent(lab_world, receiver):
    # given a LIS channel and a receiver that accepts
    rx = receiver("AA")
    channel = lis(lab_world, rx.port)
    # when a doctor orders a CBC and the async subscribers run
    order = order_cbc(lab_world)
    [message] = outbound(lab_world, channel)
    assert (message.status, message.message_type, message.attempts) == ("PENDING", "ORM^O01", 0)
    assert outbound_send_next(channel.id) == "SENT"
    # then the LIS got one ORM^O01 v2.5.1 naming the patient, the placer number and the test
    [orm] = rx.messages
    msh, pid, orc, obr = (orm.segment(s) for s in ("MSH", "PID", "ORC", "OBR"))
    assert tuple(str(msh(n)) for n in (3, 5, 6, 9, 12, 18)) == (
        "HM_CORE", channel.sending_application, "LAB", "ORM^O01^ORM_O01", "2.5.1", "UNICODE UTF-8"
    )  # fmt: skip
    assert str(msh(10)) == message.control_id and str(orc(1)) == "NW"
    assert str(pid(3)).endswith("^^^^MR") and str(pid(5)) == "Lovelace^Ada"
    placer = order.get("placer_order_number", "")
    assert str(orc(2)) == str(obr(2)) == placer
    assert str(obr(4)) == "CBC^Complete blood count^L^58410-2^Complete blood count^LN"
    # and the log shows it SENT with the ACK, once however often the subscribers run
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("SENT", 1, "")
    assert message.processed_at is not None and "MSA|AA|" + message.control_id in message.ack
    assert [m.id for m in outbound(lab_world)] == [message.id]


def test_other_channels_facilities_tenants_and_order_types_get_nothing(
    lab_world, other_world, receiver
):
    rx = receiver()
    results_only = lis(lab_world, rx.port, events=("lab.result_released",))
    inbound_only = make_channel(lab_world)
    annex = lis(lab_world, rx.port, facility=lab_world.annex)
    other = lis(other_world, rx.port)
    # when a LAB order and an IMAGING order are placed in `main`
    order_cbc(lab_world)
    place_order(lab_world.api("doctor"), make_encounter(lab_world, "IN_CONSULT"), "CXR",
                order_type="IMAGING")  # fmt: skip
    # then no channel is due an ORM: not results-only, inbound-only, another facility or tenant
    assert outbound(lab_world) == [] and outbound(other_world) == []
    for channel in (results_only, inbound_only, annex, other):
        assert outbound_drain_channel(channel.id) == 0
    assert rx.messages == []


def test_a_patient_denying_data_sharing_is_withheld_and_the_log_says_why(lab_world, receiver):
    # given a patient with an active data_sharing deny consent (contract §18), and another
    rx = receiver()
    channel = lis(lab_world, rx.port)
    denied = make_encounter(lab_world, "IN_CONSULT")
    response = lab_world.api("doctor").post(
        f"/api/patients/{denied.patient_id}/consents/",
        {"category": "data_sharing", "decision": "deny"},
    )
    assert response.status_code == 201, response.content
    # when a LAB order is placed for each
    place_order(lab_world.api("doctor"), denied, "CBC")
    order_cbc(lab_world)
    # then only the other patient's ORM goes out; the denied one is logged WITHHELD, unsent
    withheld, pending = outbound(lab_world, channel)
    assert (withheld.status, withheld.message_type, bytes(withheld.raw)) == (
        "WITHHELD",
        "ORM^O01",
        b"",
    )
    assert "data_sharing deny" in withheld.error
    assert pending.status == "PENDING"
    assert outbound_drain_channel(channel.id) == 1
    [sent] = rx.messages
    assert str(sent.segment("MSH")(10)) == pending.control_id
    listed = lab_world.api("admin").get("/api/interop/messages/", {"status": "WITHHELD"})
    assert [m["id"] for m in listed.json()["items"]] == [str(withheld.id)]


def test_a_later_permit_or_an_expired_deny_lets_the_patient_be_sent_again(lab_world, receiver):
    rx = receiver()
    channel = lis(lab_world, rx.port)
    encounter = make_encounter(lab_world, "IN_CONSULT")
    url = f"/api/patients/{encounter.patient_id}/consents/"
    api = lab_world.api("doctor")
    api.post(url, {"category": "data_sharing", "decision": "deny"})
    api.post(url, {"category": "research", "decision": "deny"})  # another category: no effect
    api.post(url, {"category": "data_sharing", "decision": "permit"})

    place_order(api, encounter, "CBC")

    [message] = outbound(lab_world, channel)
    assert message.status == "PENDING"


def test_an_order_received_from_a_channel_is_not_echoed_back_to_it(lab_world, receiver):
    # given two order channels; the first sends hm_core an ORM^O01 over MLLP
    rx = receiver()
    source, other = lis(lab_world, rx.port), lis(lab_world, rx.port)
    encounter = make_encounter(lab_world, "IN_CONSULT")
    with scope_active(scope := lab_world.scope("admin")):
        mrn = patient_get(scope=scope, patient_id=encounter.patient_id).mrn
    receipt = receive_mllp(
        er7(
            f"MSH|^~\\&|{source.sending_application}|LAB|HM_CORE||20260101||ORM^O01|X1|P|2.5.1",
            f"PID|||{mrn}^^^^MR||Lovelace^Ada",
            "ORC|NW|EXT-1",
            "OBR|1|EXT-1||CBC^Complete blood count^L",
        )
    )
    assert receipt.status == "ACCEPTED", receipt.ack
    # then the order goes to the other channel only
    assert [m.channel_id for m in outbound(lab_world)] == [other.id]


def test_ae_ar_and_a_hang_up_are_retried_then_dead_and_replay_sends_it(lab_world, receiver):
    # given a receiver that answers AE, then AR, then hangs up without an ACK
    rx = receiver("AE", "AR", "close")
    channel = lis(lab_world, rx.port)
    order_cbc(lab_world)
    [message] = outbound(lab_world, channel)
    # when the sender tries three times (the configured maximum)
    assert [outbound_send_next(channel.id) for _ in range(4)] == [
        "PENDING", "PENDING", "DEAD", None
    ]  # fmt: skip
    # then the message is DEAD with the last reason, and every attempt carried the same MSH-10
    message.refresh_from_db()
    assert (message.status, message.attempts, message.processed_at) == ("DEAD", 3, None)
    assert "IncompleteReadError" in message.error or "EOF" in message.error
    assert {str(m.segment("MSH")(10)) for m in rx.messages} == {message.control_id}
    health = lab_world.api("admin").client.get("/api/health/").json()
    assert health["hl7_outbound"] == {"pending": 0, "overdue": 0, "dead": 1}
    # when an admin replays it and the receiver now accepts
    r = lab_world.api("admin").post(f"/api/interop/messages/{message.id}/replay/")
    assert r.status_code == 200, r.json()
    assert (r.json()["status"], r.json()["attempts"]) == ("PENDING", 0)
    assert outbound_send_next(channel.id) == "SENT"
    message.refresh_from_db()
    assert (message.status, message.attempts, len(rx.messages)) == ("SENT", 1, 4)


def test_the_ae_text_is_kept_and_backoff_doubles(lab_world, receiver, settings):
    settings.HL7_OUTBOUND_BACKOFF_S = 5
    rx = receiver("AE", "AE")
    channel = lis(lab_world, rx.port)
    order_cbc(lab_world)
    [message] = outbound(lab_world, channel)
    delays = []
    for _ in range(2):
        Message.objects.filter(id=message.id).update(next_attempt_at=utcnow())
        before = utcnow()
        assert outbound_send_next(channel.id) == "PENDING"
        message.refresh_from_db()
        delays.append((message.next_attempt_at - before).total_seconds())
    assert 5 <= delays[0] < 6 and 10 <= delays[1] < 11
    assert message.error == "AE: scripted AE" and "MSA|AE|" in message.ack
    # not due yet: nothing is sent
    assert outbound_send_next(channel.id) is None and len(rx.messages) == 2


def test_a_refused_connection_and_a_silent_receiver_count_as_failed_attempts(lab_world, receiver):
    rx = receiver("silent")
    channel = lis(lab_world, rx.port)
    order_cbc(lab_world)
    [message] = outbound(lab_world, channel)
    assert outbound_send_next(channel.id) == "PENDING"
    message.refresh_from_db()
    assert message.error == "No ACK within 0.5 s."
    rx.close()
    assert outbound_send_next(channel.id) == "PENDING"
    message.refresh_from_db()
    assert message.attempts == 2 and "ConnectionRefusedError" in message.error


def test_messages_of_a_channel_go_in_order_and_wait_behind_a_retrying_head(
    lab_world, receiver, settings
):
    # given two orders queued for one channel; the receiver refuses the first attempt
    settings.HL7_OUTBOUND_BACKOFF_S = 60
    rx = receiver("AE")
    channel = lis(lab_world, rx.port)
    order_cbc(lab_world)
    order_cbc(lab_world)
    first, second = outbound(lab_world, channel)
    # when the first fails, the second waits behind it (nothing else is sent)
    assert outbound_drain_channel(channel.id) == 0
    assert outbound_send_next(channel.id) is None
    second.refresh_from_db()
    assert (second.status, second.attempts, len(rx.messages)) == ("PENDING", 0, 1)
    # when the first is due again, both go, first then second
    Message.objects.filter(id=first.id).update(next_attempt_at=utcnow())
    assert outbound_drain_channel(channel.id) == 2
    sent = [str(m.segment("MSH")(10)) for m in rx.messages]
    assert sent == [first.control_id, first.control_id, second.control_id]


def test_a_dead_head_no_longer_blocks_and_the_reconciler_sends_due_messages(
    lab_world, receiver, settings
):
    settings.HL7_OUTBOUND_MAX_ATTEMPTS = 1
    rx = receiver("AR")
    channel = lis(lab_world, rx.port)
    order_cbc(lab_world)
    order_cbc(lab_world)
    first, second = outbound(lab_world, channel)
    assert outbound_send_next(channel.id) == "DEAD"
    # when the reconciler runs (embedded mode: in-process), the second is sent
    reconcile()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("DEAD", "SENT")


def release_potassium(world, value: str) -> dict[str, Any]:
    """Order K, receive the sample, enter, verify (second technologist) and release."""
    tech, tech2 = world.api("lab_tech"), world.api("lab_tech2")
    order = place_order(world.api("doctor"), make_encounter(world, "IN_CONSULT"), "K")
    receive(tech, samples_of(tech, order)[0])
    r = enter(tech, item_of(order, "K")["id"], {"K": {"value": value, "unit": "mmol/L"}})
    assert r.status_code == 201, r.json()
    result = r.json()
    r = tech2.post(f"/api/lab/results/{result['id']}/verify/")
    assert r.status_code == 200, r.json()
    r = tech.post(f"/api/lab/results/{result['id']}/release/")
    assert r.status_code == 200, r.json()
    return r.json()


def test_a_released_result_goes_out_as_oru_r01_and_a_correction_with_status_c(lab_world, receiver):
    # given a channel that wants results only
    rx = receiver()
    channel = lis(lab_world, rx.port, events=("lab.result_released",))
    # when a potassium of 5.6 is released, then corrected to 4.2
    result = release_potassium(lab_world, "5.6")
    r = lab_world.api("lab_tech").post(
        f"/api/lab/results/{result['id']}/correct/",
        {"result_payload": {"K": {"value": "4.2", "unit": "mmol/L"}}, "reason": "Haemolysed"},
    )
    assert r.status_code == 201, r.json()
    released, corrected = outbound(lab_world, channel)
    assert outbound_drain_channel(channel.id) == 2
    # then the LIS got two ORU^R01: final, then corrected, with the values as released
    oru, fix = rx.messages
    assert [str(m.segment("MSH")(9)) for m in rx.messages] == ["ORU^R01^ORU_R01"] * 2
    obr, obx = oru.segment("OBR"), oru.segment("OBX")
    assert (str(obr(4)(1)(1)), str(obr(25))) == ("K", "F")
    assert [str(obx(n)) for n in (2, 3, 5, 6, 7, 8, 11)] == [
        "NM", "K^Potassium^L^2823-3^Potassium^LN", "5.6", "mmol/L", "3.5-5.1", "H", "F"
    ]  # fmt: skip
    assert (str(fix.segment("OBR")(25)), str(fix.segment("OBX")(5)), str(fix.segment("OBX")(11))) \
        == ("C", "4.2", "C")  # fmt: skip
    assert released.message_type == corrected.message_type == "ORU^R01"


@pytest.mark.postgres_only  # transactional: SQLite cannot flush the immutable events table
@pytest.mark.django_db(transaction=True)
def test_embedded_mode_sends_after_commit_without_any_explicit_call(lab_world, receiver):
    # given no broker: async subscribers and the sender run in-process after commit
    rx = receiver()
    channel = lis(lab_world, rx.port)
    # when a LAB order is placed over HTTP
    order_cbc(lab_world)
    # then the ORM reaches the receiver and the message is SENT, with no test-driven step
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if Message.objects.filter(channel_id=channel.id, status="SENT").exists():
            break
        time.sleep(0.05)
    assert [str(m.segment("MSH")(9)) for m in rx.messages] == ["ORM^O01^ORM_O01"]
    assert Message.objects.get(channel_id=channel.id).status == "SENT"


@pytest.mark.postgres_only  # transactional: SQLite cannot flush the immutable events table
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_channel_at_once(lab_world, receiver, monkeypatch):
    # given one queued message, no after-commit kick, a receiver answering in 0.3 s
    monkeypatch.setattr("hm_core.interop.outbound.queue.outbound_kick", lambda ids: None)
    rx = receiver("slow")
    channel = lis(lab_world, rx.port)
    order_cbc(lab_world)
    outbound(lab_world, channel)
    # when two workers try the channel at the same moment
    statuses: list[str | None] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        try:
            statuses.append(outbound_send_next(channel.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    # then one of them sent it, the other found the head leased; the receiver got it once
    assert sorted(statuses, key=str) == [None, "SENT"] and len(rx.messages) == 1


def test_replay_refuses_a_pending_outbound_message(lab_world, receiver):
    rx = receiver()
    channel = lis(lab_world, rx.port)
    order_cbc(lab_world)
    [message] = outbound(lab_world, channel)
    r = lab_world.api("admin").post(f"/api/interop/messages/{message.id}/replay/")
    assert r.status_code == 409, r.json()
    assert outbound_send_next(channel.id) == "SENT"
