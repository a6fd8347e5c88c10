"""The MLLP listener over real sockets: framing, ordering, concurrency, survival, shutdown.

The listener runs in this process on a free port, on its own event loop in a background
thread; its worker threads use their own database connections, hence `transaction=True`.
Most framing tests use an unknown sender (AR 204): the outcome is known without a channel,
and what is under test is the transport, not the mapping.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hl7
import pytest
from hl7.client import MLLPClient

from hm_core.interop.mllp import FrameDecoder
from hm_core.interop.models import Message
from tests.interop.conftest import Running, er7, make_channel
from tests.listeners import free_port, run_until_sigterm

SB, EB = b"\x0b", b"\x1c\r"
transactional = pytest.mark.django_db(transaction=True)


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def mllp(serve: Callable[..., Running]) -> Running:
    return serve()


@pytest.fixture
def accepting(monkeypatch: pytest.MonkeyPatch) -> None:
    """ADT^A04 applies nothing but is ACCEPTED: store-then-ACK without the ADT mapping."""
    monkeypatch.setattr(
        "hm_core.interop.inbound.handlers", lambda: {("ADT", "A04"): lambda inbound: None}
    )


def adt(control_id: str, *, app: str = "NOBODY", fac: str = "") -> bytes:
    return er7(
        f"MSH|^~\\&|{app}|{fac}|HM_CORE|HOSP|20260101120000||ADT^A04^ADT_A01|{control_id}|P|2.5.1",
        "EVN|A04|20260101120000",
        "PID|1||MRN-1^^^^MR||DOE^JANE||19800101|F",
    )


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_acks(sock: socket.socket, count: int) -> list[tuple[str, str, str]]:
    """(MSA-1, MSA-2, ERR-3.1) of the next `count` ACKs; the socket timeout bounds the wait."""
    buffer, acks = b"", []
    while len(acks) < count:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(acks)} ACK(s)"
        buffer += chunk
        while EB in buffer:
            frame, buffer = buffer.split(EB, 1)
            assert frame.startswith(SB)
            acks.append(parse_ack(frame[1:]))
    return acks


def parse_ack(frame: bytes) -> tuple[str, str, str]:
    ack = hl7.parse(frame.decode())
    msa = ack.segment("MSA")
    err = ack.extract_field("ERR", 1, 3, 1, 1) if "ERR" in frame.decode() else ""
    return str(msa(1)), str(msa(2)), str(err)


def wait_until(condition: Callable[[], bool], *, seconds: float = 5) -> None:
    """Bounded poll, for what only a log line shows (a half frame dropped)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- framing, without sockets ----------------------------------------------------------------


def test_decoder_reassembles_a_frame_fed_byte_by_byte():
    # given
    decoder = FrameDecoder(max_bytes=1024)
    wire = SB + b"MSH|one" + EB
    # when
    frames = [frame for byte in wire for frame in decoder.feed(bytes([byte]))]
    # then
    assert [f.payload for f in frames] == [b"MSH|one"]
    assert decoder.pending() == 0 and decoder.take_skipped() == 0


def test_decoder_splits_several_frames_from_one_read_and_counts_garbage():
    decoder = FrameDecoder(max_bytes=1024)
    frames = decoder.feed(b"junk" + SB + b"A" + EB + b"\r\n" + SB + b"B" + EB + SB + b"C")
    assert [f.payload for f in frames] == [b"A", b"B"]
    assert decoder.take_skipped() == 6  # "junk" and the stray CR LF between frames
    assert decoder.pending() == 1  # "C" waits for its end marker
    assert [f.payload for f in decoder.feed(b"\x1c")] == []  # 0x1C alone is not the end
    assert [f.payload for f in decoder.feed(b"\r")] == [b"C"]


def test_decoder_restarts_on_a_start_byte_inside_a_frame():
    # a sender that abandoned half a frame and began again: the second frame is the message
    decoder = FrameDecoder(max_bytes=1024)
    frames = decoder.feed(SB + b"half" + SB + b"whole" + EB)
    assert [f.payload for f in frames] == [b"whole"]
    assert decoder.take_skipped() == 5


def test_decoder_keeps_only_the_head_of_an_oversized_frame():
    # given a 50 kB frame against a 10 kB limit, arriving in 1 kB reads
    decoder = FrameDecoder(max_bytes=10_000)
    body = b"MSH|^~\\&|BIG\r" + b"OBX|" + b"x" * 50_000
    wire = SB + body + EB + SB + b"next" + EB
    # when
    frames, buffered = [], 0
    for i in range(0, len(wire), 1000):
        frames += decoder.feed(wire[i : i + 1000])
        buffered = max(buffered, len(decoder._buf))
    # then the frame is answerable from its head, and memory stayed bounded by the limit
    assert [(f.too_large, f.size) for f in frames] == [(True, len(body)), (False, 4)]
    assert frames[0].payload.startswith(b"MSH|^~\\&|BIG\r") and len(frames[0].payload) == 4096
    assert buffered <= 11_000


# --- the listener over real sockets ----------------------------------------------------------


@pytest.mark.postgres_only  # the channel's events cannot be flushed on SQLite (immutable)
@transactional
def test_mllp_client_gets_aa_ar_204_and_ar_200_on_one_connection(world, mllp, accepting):
    # given a channel, and python-hl7's own client (written by others) on one connection
    channel = make_channel(world, app="LIS_MLLP", fac="LAB")
    unsupported = er7(
        "MSH|^~\\&|LIS_MLLP|LAB|HM_CORE|HOSP|20260101120000||XYZ^Q99|C3|P|2.5.1", "PID|1||M1"
    )
    # when
    with MLLPClient("127.0.0.1", mllp.port) as client:
        accepted = client.send_message(adt("C1", app="LIS_MLLP", fac="LAB"))
        unknown = client.send_message(adt("C2", app="STRANGER"))
        rejected = client.send_message(unsupported)
    # then
    assert parse_ack(accepted.strip(SB + EB)) == ("AA", "C1", "")
    assert parse_ack(unknown.strip(SB + EB)) == ("AR", "C2", "204")
    assert parse_ack(rejected.strip(SB + EB)) == ("AR", "C3", "200")
    rows = {m.control_id: m for m in Message.objects.all()}
    assert rows["C1"].status == "ACCEPTED" and rows["C1"].channel_id == channel.id
    assert rows["C1"].transport == "mllp" and bytes(rows["C1"].raw).startswith(b"MSH|")
    assert (rows["C2"].status, rows["C3"].status) == ("REJECTED", "REJECTED")


@transactional
def test_mllp_client_keeps_one_connection_open_for_many_messages(mllp):
    with MLLPClient("127.0.0.1", mllp.port) as client:
        acks = [client.send_message(adt(f"KEEP-{i}")).strip(SB + EB) for i in range(3)]
    assert [parse_ack(ack) for ack in acks] == [("AR", f"KEEP-{i}", "204") for i in range(3)]
    rows = Message.objects.filter(control_id__startswith="KEEP-")
    assert sorted(rows.values_list("control_id", "status")) == [
        (f"KEEP-{i}", "REJECTED") for i in range(3)
    ]


@transactional
def test_a_frame_split_byte_by_byte_over_tcp_is_answered(mllp):
    with connect(mllp.port) as sock:
        for byte in SB + adt("SPLIT-1") + EB:
            sock.sendall(bytes([byte]))
        assert read_acks(sock, 1) == [("AR", "SPLIT-1", "204")]


@transactional
def test_two_frames_in_one_write_get_two_acks_in_order(mllp):
    with connect(mllp.port) as sock:
        sock.sendall(SB + adt("FIRST") + EB + SB + adt("SECOND") + EB)
        acks = read_acks(sock, 2)
    assert [ack[1] for ack in acks] == ["FIRST", "SECOND"]


@transactional
def test_garbage_before_a_frame_is_skipped_and_counted_without_content(mllp, caplog):
    caplog.set_level(logging.INFO, logger="hm_core.interop")
    with connect(mllp.port) as sock:
        sock.sendall(b"SECRET-PHI\r\n" + SB + adt("AFTER-GARBAGE") + EB)
        assert read_acks(sock, 1) == [("AR", "AFTER-GARBAGE", "204")]
    assert "12 byte(s) outside MLLP frames skipped" in caplog.text
    assert "SECRET" not in caplog.text and "DOE" not in caplog.text


@transactional
def test_a_half_frame_then_close_is_dropped_and_the_listener_keeps_serving(mllp, caplog):
    caplog.set_level(logging.INFO, logger="hm_core.interop")
    with connect(mllp.port) as sock:
        sock.sendall(SB + adt("HALF")[:40])
    wait_until(lambda: "half frame of 40 bytes dropped" in caplog.text)
    with connect(mllp.port) as sock:
        sock.sendall(SB + adt("WHOLE") + EB)
        assert read_acks(sock, 1) == [("AR", "WHOLE", "204")]
    assert not Message.objects.filter(control_id="HALF").exists()
    assert Message.objects.filter(control_id="WHOLE").count() == 1


@transactional
def test_an_idle_connection_blocks_no_one_and_is_closed_after_the_timeout(serve):
    running = serve(idle_timeout_s=0.5)
    with connect(running.port) as idle, connect(running.port) as busy:
        busy.sendall(SB + adt("BUSY-1") + EB)
        assert read_acks(busy, 1) == [("AR", "BUSY-1", "204")]
        assert idle.recv(1) == b""  # closed by the listener, well within the 5 s socket timeout


@pytest.mark.postgres_only  # the channel's events cannot be flushed on SQLite (immutable)
@transactional
def test_eight_concurrent_connections_each_sending_several_messages(world, mllp, accepting):
    channel = make_channel(world, app="LIS_8", fac="")

    def sender(number: int) -> list[tuple[str, str, str]]:
        with MLLPClient("127.0.0.1", mllp.port) as client:
            return [
                parse_ack(client.send_message(adt(f"C{number}-{i}", app="LIS_8")).strip(SB + EB))
                for i in range(5)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(sender, range(8)))
    for number, acks in enumerate(results):
        assert acks == [("AA", f"C{number}-{i}", "") for i in range(5)]
    statuses = list(Message.objects.filter(channel_id=channel.id).values_list("status", flat=True))
    assert len(statuses) == 40 and set(statuses) == {"ACCEPTED"}


@transactional
def test_the_listener_survives_random_bytes_and_keeps_serving(mllp):
    noise = random.Random(8).randbytes(20_000)
    with connect(mllp.port) as sock:
        sock.sendall(noise)
        # whatever the noise framed got its own AR; the start byte resynchronises the stream
        sock.sendall(SB + adt("AFTER-NOISE") + EB)
        while (ack := read_acks(sock, 1)[0])[1] != "AFTER-NOISE":
            assert ack[0] == "AR"
    assert ack == ("AR", "AFTER-NOISE", "204")
    with connect(mllp.port) as sock:
        sock.sendall(SB + adt("NEW-CONNECTION") + EB)
        assert read_acks(sock, 1) == [("AR", "NEW-CONNECTION", "204")]


@transactional
def test_an_oversized_frame_is_answered_ar_and_not_stored(serve):
    running = serve(max_bytes=2048)
    big = adt("BIG") + b"\rNTE|1||" + b"x" * 10_000
    with connect(running.port) as sock:
        sock.sendall(SB + big + EB + SB + adt("SMALL") + EB)
        acks = read_acks(sock, 2)
    assert acks == [("AR", "BIG", "207"), ("AR", "SMALL", "204")]
    assert not Message.objects.filter(control_id="BIG").exists()
    assert Message.objects.filter(control_id="SMALL").count() == 1


def test_a_message_that_raises_gets_a_generic_ae_and_the_connection_goes_on(
    mllp, monkeypatch, caplog
):
    def boom(raw: bytes, *, peer: str) -> Any:
        raise RuntimeError("PID|DOE^JANE leaked into an exception")

    monkeypatch.setattr("hm_core.interop.inbound.receive_mllp", boom)
    with connect(mllp.port) as sock:
        sock.sendall(SB + adt("BOOM-1") + EB + SB + adt("BOOM-2") + EB)
        assert read_acks(sock, 2) == [("AE", "BOOM-1", "207"), ("AE", "BOOM-2", "207")]
    assert "RuntimeError" in caplog.text and "DOE" not in caplog.text


def test_stop_finishes_the_message_in_flight_then_refuses_connections(serve):
    # given a message being applied when the stop comes
    entered, release = threading.Event(), threading.Event()

    def slow(raw: bytes, peer: str) -> bytes:
        entered.set()
        release.wait(timeout=5)
        return b"MSH|^~\\&|HM_CORE||X||20260101||ACK^A04^ACK|1|P|2.5.1\rMSA|AA|IN-FLIGHT"

    running = serve(receive=slow)
    with connect(running.port) as sock, connect(running.port) as idle:
        sock.sendall(SB + adt("IN-FLIGHT") + EB)
        assert entered.wait(timeout=5)
        stopping = asyncio.run_coroutine_threadsafe(running.listener.stop(), running.loop)
        assert idle.recv(1) == b""  # idle connections are closed at once
        assert not stopping.done()
        # when the message completes
        release.set()
        # then its ACK is written, and only then does the listener stop
        assert read_acks(sock, 1) == [("AA", "IN-FLIGHT", "")]
        stopping.result(timeout=5)
    with pytest.raises(ConnectionRefusedError):
        connect(running.port)


def test_run_mllp_prints_its_address_and_exits_0_on_sigterm(tmp_path: Path):
    # given the command in its own process (signals, asyncio.run: as an operator runs it)
    port = free_port()

    # when
    run = run_until_sigterm("run_mllp", "--port", str(port), tmp_path=tmp_path)

    # then
    assert run.first_line == f"MLLP listening on 127.0.0.1:{port}"
    assert run.returncode == 0
    assert run.rest == "run_mllp: stopped; 0 message(s) answered on 0 connection(s)"
