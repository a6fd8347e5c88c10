"""The wake-up after a commit never holds the request up when Redis hangs."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from hm_core.events import broker, wakeups


@pytest.fixture
def frozen_redis() -> Iterator[str]:
    """A port that accepts connections and never answers: a SIGSTOPped or wedged Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/15"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        server.close()


def test_the_wake_sender_uses_the_millisecond_send_timeout(settings, frozen_redis):
    # given
    settings.REDIS_URL = frozen_redis
    settings.HM_BROKER_SEND_TIMEOUT_MS = 40

    # when
    kwargs = broker.sender().client.connection_pool.connection_kwargs

    # then
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.04


def test_a_wake_on_a_frozen_redis_gives_up_within_the_send_timeout(settings, frozen_redis, caplog):
    # given
    settings.REDIS_URL = frozen_redis
    settings.HM_BROKER_SEND_TIMEOUT_MS = 40

    # when
    started = time.monotonic()
    wakeups.wake(uuid.uuid4())
    elapsed = time.monotonic() - started

    # then: logged for the reconciler, and far below the workers' 2 s read timeout
    assert "broker unreachable" in caplog.text
    assert elapsed < 0.5, elapsed
