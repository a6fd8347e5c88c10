"""Interop fixtures: real HL7 messages from ../shared/fixtures/hl7 and a channel per world."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from hm_core.interop.mllp import ListenerConfig, MllpListener, receive_in_worker
from hm_core.interop.models import Channel
from hm_core.interop.services import channel_create
from tests.conftest import World

# Copies of ../shared/fixtures/hl7 (sources and licences in manifest.json), byte for byte.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def hl7_fixture(name: str) -> bytes:
    """A real message as its bytes (BOMs, LF separators and all)."""
    return (FIXTURES / name).read_bytes()


def er7(*segments: str) -> bytes:
    """A message written in a test, segments joined by CR."""
    return "\r".join(segments).encode()


def make_channel(
    world: World, *, app: str | None = None, fac: str = "", **settings: Any
) -> Channel:
    return channel_create(
        scope=world.scope("admin"),
        name=settings.pop("name", f"lis-{uuid.uuid4().hex[:6]}"),
        protocol="hl7v2",
        facility_id=world.main.id,
        sending_application=app or f"APP{uuid.uuid4().hex[:6]}",
        sending_facility=fac,
        **settings,
    )


@pytest.fixture
def channel(world: World) -> Channel:
    return make_channel(world)


# --- a real MLLP listener in this process ------------------------------------------------------

CONFIG = ListenerConfig(host="127.0.0.1", port=0, idle_timeout_s=5, max_bytes=64 * 1024)


@dataclass
class Running:
    listener: MllpListener
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.listener.address[1]

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """Start listeners (config overrides as keywords); all are stopped after the test."""
    started: list[Running] = []

    def start(receive: Any = receive_in_worker, **overrides: Any) -> Running:
        listener = MllpListener(replace(CONFIG, **overrides), receive=receive)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(listener.start(), loop).result(timeout=5)
        started.append(Running(listener, loop, thread))
        return started[-1]

    yield start
    for running in started:
        running.stop()
