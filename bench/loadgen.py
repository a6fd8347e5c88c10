"""A small asyncio HTTP/1.1 load generator: keep-alive connections, loopback only, bounded.

Self-contained on purpose (no wrk to install): each virtual client owns one connection and
issues one request at a time. gunicorn's sync workers answer `Connection: close`, so the client
reconnects whenever told to; that connect time is part of what a real client waits, so it is
part of the measured latency. Every run is bounded in time (warm-up + window, plus a hard
timeout) and in requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

LOOPBACK = "127.0.0.1"
MAX_REQUESTS = 2_000_000


@dataclass
class Sample:
    step: str
    status: int
    started: float
    seconds: float


@dataclass
class Recorder:
    """Every sample of one run, and the moment the run must stop issuing requests."""

    stop_at: float
    samples: list[Sample] = field(default_factory=list)

    def add(self, step: str, status: int, started: float) -> None:
        self.samples.append(Sample(step, status, started, time.perf_counter() - started))

    @property
    def stopped(self) -> bool:
        return time.perf_counter() >= self.stop_at or len(self.samples) >= MAX_REQUESTS


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One client's HTTP/1.1 connection to the server, reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"Content-Length: {len(payload)}", "Connection: keep-alive", "", ""]
        raw = "\r\n".join(lines).encode() + payload
        reused = self.writer is not None
        try:
            return await self._exchange(raw)
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            if not reused:
                raise
            return await self._exchange(raw)  # the server had closed an idle keep-alive

    async def _exchange(self, raw: bytes) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(LOOPBACK, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        await self.writer.drain()
        response, keep_alive = await _read_response(self.reader)
        if not keep_alive:
            await self.close()
        return response

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body, keep_alive = await reader.read(), False
    return Response(status, body), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


ClientLoop = Callable[[Connection, Recorder], Awaitable[None]]


@dataclass(frozen=True)
class RunResult:
    samples: list[Sample]
    window_start: float
    window_end: float
    cpu_seconds: float

    def measured(self) -> list[Sample]:
        """Requests that completed inside the window (after the warm-up, before the stop).

        Counting completions, not starts, keeps a window shorter than the latency honest: with
        64 clients queued on 5 workers a request can take longer than a short smoke-test window.
        """
        return [
            s for s in self.samples if self.window_start <= s.started + s.seconds <= self.window_end
        ]

    @property
    def window(self) -> float:
        return self.window_end - self.window_start


async def _run(port: int, loops: list[ClientLoop], warmup: float, seconds: float) -> RunResult:
    begin = time.perf_counter()
    recorder = Recorder(stop_at=begin + warmup + seconds)
    connections = [Connection(port) for _ in loops]
    cpu = time.process_time()
    tasks = [
        asyncio.create_task(loop(conn, recorder))
        for loop, conn in zip(loops, connections, strict=True)
    ]
    done, pending = await asyncio.wait(tasks, timeout=warmup + seconds + 60)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    for conn in connections:
        await conn.close()
    return RunResult(
        samples=recorder.samples,
        window_start=begin + warmup,
        window_end=recorder.stop_at,
        cpu_seconds=time.process_time() - cpu,
    )


def run(port: int, loops: list[ClientLoop], *, warmup: float, seconds: float) -> RunResult:
    """Run every client loop concurrently for warm-up + seconds; measure only the window."""
    return asyncio.run(_run(port, loops, warmup, seconds))
