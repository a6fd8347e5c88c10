"""The MLLP listener of contract §11: one asyncio server for every tenant's HL7 channels.

Framing is standard MLLP only: a message travels as `0x0B <message> 0x1C 0x0D`. The HL7 content
is never read here; `inbound.receive_mllp` parses, routes, stores and builds the ACK.

Why our own framing rather than python-hl7's `MLLPStreamReader.readblock()`: it reads up to the
end marker and then refuses the whole block when it does not begin with 0x0B, so garbage before
a frame costs the good message behind it; and a frame over its limit clears the buffer, losing
sync with whatever follows. `FrameDecoder` below skips garbage byte-exactly, restarts on a new
start byte, answers an oversized frame without holding it in memory, and is tested on its own.

Store, then ACK: `receive_mllp` is synchronous ORM code, so it runs in a bounded thread pool
(`HL7_MLLP_WORKERS`) off the event loop. On one connection the next frame is not processed
before the previous ACK is written (senders rely on that order); connections run in parallel.
Logs name sizes, peers, control ids and exception types: never message content (PHI).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connection

from hm_core.events import wakeups
from hm_core.interop import inbound
from hm_core.interop.hl7.ack import AckError, build_ack
from hm_core.interop.hl7.message import Header, peek_header

logger = logging.getLogger("hm_core.interop.mllp")

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
HEAD_BYTES = 4096  # what is kept of an oversized frame: enough for its MSH, for the AR
READ_BYTES = 65536
SHUTDOWN_GRACE_S = 30.0  # how long a stop waits for ACKs of messages already being applied

Receiver = Callable[[bytes, str], bytes]


@dataclass(frozen=True)
class Frame:
    """One framed message: `payload` is all of it, or only its head when `too_large`."""

    payload: bytes
    size: int
    too_large: bool = False


class FrameDecoder:
    """Incremental MLLP framing: feed TCP reads in any split, get whole frames out, in order.

    Bytes outside a frame are skipped and counted (`take_skipped`). A start byte inside a frame
    means the sender gave up on that frame and began again: the partial one counts as skipped.
    A frame past `max_bytes` is not buffered: its head is kept (for the AR) and the rest is
    counted until its end marker, so one sender cannot make the listener hold a huge message.
    """

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._in_frame = False
        self._scan = 0  # bytes of _buf already searched for markers
        self._head: bytes | None = None  # set once the current frame is over the limit
        self._dropped = 0  # bytes of an oversized frame already discarded
        self._skipped = 0

    def feed(self, data: bytes) -> list[Frame]:
        """The frames that `data` completes, in the order they arrived."""
        self._buf += data
        frames: list[Frame] = []
        while self._buf:
            if not self._in_frame:
                self._seek_start()
                continue
            frame = self._step_in_frame()
            if frame is None:
                break
            frames.append(frame)
        return frames

    def take_skipped(self) -> int:
        """Bytes discarded outside frames since the last call (logged as a count only)."""
        skipped, self._skipped = self._skipped, 0
        return skipped

    def pending(self) -> int:
        """Bytes of a frame begun but not finished: what EOF or a timeout now drops."""
        return len(self._buf) + self._dropped if self._in_frame else 0

    def _seek_start(self) -> None:
        start = self._buf.find(START_BLOCK)
        if start < 0:
            self._skipped += len(self._buf)
            self._buf.clear()
            return
        self._skipped += start
        del self._buf[: start + 1]
        self._begin_frame()

    def _begin_frame(self) -> None:
        self._in_frame, self._scan, self._head, self._dropped = True, 0, None, 0

    def _step_in_frame(self) -> Frame | None:
        end = self._buf.find(END_BLOCK, self._scan)
        restart = self._buf.find(START_BLOCK, self._scan, end if end >= 0 else len(self._buf))
        if restart >= 0:
            self._skipped += self._dropped + restart + 1
            del self._buf[: restart + 1]
            self._begin_frame()
            return self._step_in_frame()
        if end >= 0:
            return self._finish_frame(end)
        if self._dropped + len(self._buf) > self.max_bytes:
            self._discard_overflow()
        # The last byte may be the 0x1C of an end marker split across two reads.
        self._scan = max(0, len(self._buf) - 1)
        return None

    def _finish_frame(self, end: int) -> Frame:
        payload = bytes(self._buf[:end])
        del self._buf[: end + len(END_BLOCK)]
        self._in_frame = False
        size = self._dropped + len(payload)
        if self._head is None and size <= self.max_bytes:
            return Frame(payload=payload, size=size)
        head = self._head if self._head is not None else payload[:HEAD_BYTES]
        return Frame(payload=head, size=size, too_large=True)

    def _discard_overflow(self) -> None:
        if self._head is None:
            self._head = bytes(self._buf[:HEAD_BYTES])
        keep = 1 if self._buf.endswith(END_BLOCK[:1]) else 0
        self._dropped += len(self._buf) - keep
        del self._buf[: len(self._buf) - keep]


@dataclass(frozen=True)
class ListenerConfig:
    """Where and how the listener serves; see `listener_config` for the settings behind it."""

    host: str = "127.0.0.1"
    port: int = 2575
    idle_timeout_s: float = 300.0
    max_bytes: int = 1_048_576
    workers: int = 8


def listener_config(*, host: str, port: int) -> ListenerConfig:
    """The settings `HL7_MLLP_IDLE_TIMEOUT_S`, `HL7_MLLP_MAX_BYTES`, `HL7_MLLP_WORKERS`."""
    workers = max(1, int(getattr(settings, "HL7_MLLP_WORKERS", 8)))
    if connection.vendor == "sqlite":
        # Every message writes, and SQLite has one write lock: parallel workers only queue
        # behind it in the busy handler's backoff (measured here, 8 senders: p99 ACK over 5 s
        # with 8 workers, under 1 s with 1).
        workers = 1
    return ListenerConfig(
        host=host,
        port=port,
        idle_timeout_s=float(getattr(settings, "HL7_MLLP_IDLE_TIMEOUT_S", 300)),
        max_bytes=int(getattr(settings, "HL7_MLLP_MAX_BYTES", 1_048_576)),
        workers=workers,
    )


def receive_in_worker(raw: bytes, peer: str) -> bytes:
    """One message in a pool thread: its ACK bytes, whatever happens while applying it.

    Connections are checked before and after (`close_old_connections`): a connection broken
    by a database restart, or past `CONN_MAX_AGE`, is replaced rather than failing messages.
    """
    close_old_connections()
    try:
        with wakeups.deferred_wakes() as tenants:
            ack = inbound.receive_mllp(raw, peer=peer).ack_bytes
        _drain_after_ack(tenants)
        return ack
    except Exception as exc:
        # The listener never dies of a message; the type alone is logged (no PHI).
        logger.error("mllp %s: message processing failed: %s", peer, type(exc).__name__)
        return internal_error_ack(raw)
    finally:
        close_old_connections()


_drainer: ThreadPoolExecutor | None = None
_drainer_lock = threading.Lock()


def _drain_after_ack(tenants: set[uuid.UUID]) -> None:
    """Embedded mode: async subscribers (outbound HL7, webhooks) run on one side thread while
    the ACK goes out — store-then-ACK needs the message's commit, not its outbound effects."""
    global _drainer
    if not tenants:
        return
    with _drainer_lock:
        if _drainer is None:
            _drainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mllp-drain")
        _drainer.submit(_drain, set(tenants))


def _drain(tenants: set[uuid.UUID]) -> None:
    close_old_connections()
    try:
        wakeups.drain_now(tenants)
    except Exception as exc:  # the reconciler catches up whatever a failed drain left
        logger.warning("mllp: after-ACK drain failed: %s", type(exc).__name__)
    finally:
        close_old_connections()


def finish_drains() -> None:
    """Wait for the drains still queued (shutdown)."""
    global _drainer
    with _drainer_lock:
        drainer, _drainer = _drainer, None
    if drainer is not None:
        drainer.shutdown(wait=True)


def internal_error_ack(raw: bytes) -> bytes:
    """The generic AE 207 for a message whose processing raised."""
    header = _header_or_empty(raw)
    ack = build_ack(header, code="AE", text="Application internal error", error=AckError("207"))
    return ack.encode(header.encoding, errors="replace")


def oversized_ack(frame: Frame, *, max_bytes: int) -> bytes:
    """AR for a frame past the limit, addressed from its head; the message is not stored."""
    header = _header_or_empty(frame.payload)
    text = f"Message of {frame.size} bytes exceeds the {max_bytes}-byte limit"
    ack = build_ack(header, code="AR", text=text, error=AckError("207"))
    logger.warning(
        "hl7 in mllp %s control_id=%s status=REJECTED not stored: %s",
        header.message_type or "-",
        header.control_id or "-",
        text,
    )
    return ack.encode(header.encoding, errors="replace")


def _header_or_empty(raw: bytes) -> Header:
    try:
        return peek_header(raw)
    except Exception:  # not even an MSH to answer to: the ACK goes out unaddressed
        return Header()


@dataclass
class _Connection:
    """One sender's socket; `busy` while a message is being applied (shutdown waits for it)."""

    peer: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    decoder: FrameDecoder
    busy: bool = False
    answered: int = 0


@dataclass
class ListenerStats:
    connections: int = 0
    messages: int = 0


class MllpListener:
    """The server: `start()`, then `stop()` (stop accepting, finish in-flight, close)."""

    def __init__(self, config: ListenerConfig, *, receive: Receiver = receive_in_worker) -> None:
        self.config = config
        self.receive = receive
        self.stats = ListenerStats()
        self._server: asyncio.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._connections: dict[asyncio.Future[None], _Connection] = {}
        self._closing = False
        self._address: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when configured with port 0)."""
        if self._address is None:
            raise RuntimeError("the listener is not started")
        return self._address

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.workers, thread_name_prefix="mllp"
        )
        self._server = await asyncio.start_server(
            self._accept, self.config.host, self.config.port, reuse_address=True
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (str(host), int(port))
        logger.debug(
            "mllp listening on %s:%s (workers=%d, idle_timeout=%ss, max_bytes=%d)",
            host,
            port,
            self.config.workers,
            self.config.idle_timeout_s,
            self.config.max_bytes,
        )

    async def stop(self) -> None:
        """Graceful: no new connections; idle ones closed; a message being applied is finished
        and its ACK written, since the sender would otherwise resend one that was stored."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in self._connections.values():
            if not conn.busy:
                conn.writer.close()  # its pending read sees EOF and the connection ends
        if self._connections:
            _, late = await asyncio.wait(list(self._connections), timeout=SHUTDOWN_GRACE_S)
            for task in late:  # a sender that stopped reading its ACK cannot hold the exit
                self._connections[task].writer.transport.abort()
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
        await asyncio.to_thread(finish_drains)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task: asyncio.Future[None] = asyncio.current_task() or asyncio.Future()
        host, port = (writer.get_extra_info("peername") or ("?", 0))[:2]
        conn = _Connection(
            f"{host}:{port}", reader, writer, FrameDecoder(max_bytes=self.config.max_bytes)
        )
        self._connections[task] = conn
        self.stats.connections += 1
        try:
            await self._serve(conn)
        except ConnectionError as exc:
            logger.info("mllp %s: connection lost: %s", conn.peer, type(exc).__name__)
        except Exception as exc:  # a bug here must cost one connection, never the listener
            logger.error("mllp %s: connection failed: %s", conn.peer, type(exc).__name__)
        finally:
            del self._connections[task]
            await _close(conn)

    async def _serve(self, conn: _Connection) -> None:
        logger.debug("mllp %s: connected", conn.peer)
        while not self._closing:
            data = await self._read(conn)
            if not data:
                return
            for frame in conn.decoder.feed(data):
                if self._closing:
                    return  # unanswered: the sender resends it to the next listener
                await self._answer(conn, frame)
            _log_skipped(conn)

    async def _read(self, conn: _Connection) -> bytes:
        try:
            async with asyncio.timeout(self.config.idle_timeout_s):
                data = await conn.reader.read(READ_BYTES)
        except TimeoutError:
            logger.info("mllp %s: idle for %ss, closing", conn.peer, self.config.idle_timeout_s)
            data = b""
        if not data:
            _log_skipped(conn)
            if conn.decoder.pending():
                logger.warning(
                    "mllp %s: half frame of %d bytes dropped (connection ended, no ACK possible)",
                    conn.peer,
                    conn.decoder.pending(),
                )
        return data

    async def _answer(self, conn: _Connection, frame: Frame) -> None:
        """Apply one frame and write its ACK before the next frame is looked at."""
        _log_skipped(conn)
        conn.busy = True  # from here to the written ACK, shutdown waits instead of cancelling
        try:
            if frame.too_large:
                ack = oversized_ack(frame, max_bytes=self.config.max_bytes)
            else:
                loop = asyncio.get_running_loop()
                ack = await loop.run_in_executor(
                    self._executor, self.receive, frame.payload, conn.peer
                )
            conn.writer.write(START_BLOCK + ack + END_BLOCK)
            await conn.writer.drain()
        finally:
            conn.busy = False
        conn.answered += 1
        self.stats.messages += 1


def _log_skipped(conn: _Connection) -> None:
    skipped = conn.decoder.take_skipped()
    if skipped:
        logger.warning("mllp %s: %d byte(s) outside MLLP frames skipped", conn.peer, skipped)


async def _close(conn: _Connection) -> None:
    conn.writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await conn.writer.wait_closed()
    logger.debug("mllp %s: closed after %d message(s)", conn.peer, conn.answered)
