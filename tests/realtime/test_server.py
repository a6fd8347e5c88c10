"""`/ws/events/` against a real server process with a real client (`websockets`), PostgreSQL.

The server is another process: every event it pushes was committed by this test process (or
by a management command, a third one) and reached it through NOTIFY or Redis, not memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hm_core.events.models import Event
from hm_core.iam.models import FacilityMembership
from tests.conftest import World
from tests.encounters.conftest import make_encounter
from tests.realtime.conftest import auth_message, event_positions
from tests.realtime.server import Server, asgi_server

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

REDIS_TEST_URL = "redis://127.0.0.1:6379/4"


@pytest.fixture
def server() -> Any:
    with asgi_server() as running:
        yield running


def open_socket(server: Server, world: World, role: str, topics: list[str], **extra: Any) -> Any:
    socket = connect(server.url, open_timeout=10)
    socket.send(json.dumps(auth_message(world, role)))
    assert json.loads(socket.recv(timeout=10)) == {"type": "ready"}
    socket.send(json.dumps({"type": "subscribe", "topics": topics, **extra}))
    subscribed = json.loads(socket.recv(timeout=10))
    assert subscribed["type"] == "subscribed", subscribed
    return socket, subscribed


def receive_until_quiet(socket: ClientConnection, *, quiet: float = 1.5) -> list[dict[str, Any]]:
    received = []
    while True:
        try:
            received.append(json.loads(socket.recv(timeout=quiet)))
        except TimeoutError:
            return received


def task_positions(world: World, *, after: int) -> list[int]:
    rows = Event.objects.filter(
        tenant_id=world.tenant.id, stream_type="task", facility_id=world.main.id,
        position__gt=after,
    ).order_by("position")  # fmt: skip
    return list(rows.values_list("position", flat=True))


def close_code(socket: ClientConnection, *, timeout: float = 5) -> int | None:
    try:
        while True:
            socket.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def test_bad_token_and_missing_membership_close_4401_and_4403(server: Server, world: World) -> None:
    for change, code in (({"token": "nope"}, 4401), ({"facility_id": str(world.tenant.id)}, 4403)):
        with connect(server.url, open_timeout=10) as socket:
            socket.send(json.dumps({**auth_message(world, "nurse"), **change}))
            assert close_code(socket) == code


def test_commits_of_this_process_reach_the_socket_through_notify(
    server: Server, world: World
) -> None:
    socket, subscribed = open_socket(server, world, "nurse", ["tasks"])
    with socket:
        # when this process checks a patient in (the server's poll is 30 s: NOTIFY carries it)
        started = time.monotonic()
        make_encounter(world, "CHECKED_IN")
        first = json.loads(socket.recv(timeout=15))
        assert time.monotonic() - started < 15  # well before the 30 s poll
        assert first["event_type"] == "task.created"
        assert first["position"] == task_positions(world, after=subscribed["position"])[0]


def test_a_management_command_in_another_process_reaches_the_socket(
    server: Server, world: World
) -> None:
    socket, subscribed = open_socket(server, world, "nurse", ["tasks"])
    with socket:
        subprocess.run(
            [sys.executable, "manage.py", "create_test_encounter", "--tenant", "acme"],
            cwd=settings.BASE_DIR, env=server.env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        messages = receive_until_quiet(socket)
    assert event_positions(messages) == task_positions(world, after=subscribed["position"])
    assert len(messages) >= 2


def test_after_replays_then_goes_live_without_gaps_or_duplicates_under_concurrent_writes(
    server: Server, world: World
) -> None:
    # given check-ins committed before the socket opens, and a writer that keeps going
    make_encounter(world, "CHECKED_IN")
    make_encounter(world, "CHECKED_IN")
    after = task_positions(world, after=0)[0]  # the first task.created is already seen
    done = threading.Event()

    def writer() -> None:
        try:
            for _ in range(8):
                make_encounter(world, "VITALS")
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.3)  # let it commit while the socket replays
    socket, _ = open_socket(server, world, "nurse", ["tasks"], after=after)
    with socket:
        thread.join(timeout=120)
        assert done.is_set()
        messages = receive_until_quiet(socket)
    positions = event_positions(messages)
    # then every task event after `after`, once each, in position order
    assert positions == task_positions(world, after=after)
    assert len(positions) == 1 + 8 * 3


def test_a_revoked_membership_closes_the_live_socket_4403(server: Server, world: World) -> None:
    socket, _ = open_socket(server, world, "nurse", ["tasks"])
    FacilityMembership.objects.filter(user=world.users["nurse"], facility=world.main).update(
        is_active=False
    )
    assert close_code(socket) == 4403


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_with_redis_commits_reach_the_socket_through_channels_redis(
    world: World, settings: Any
) -> None:
    # given a server and this process both configured with REDIS_URL
    settings.REDIS_URL = REDIS_TEST_URL
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_TEST_URL], "prefix": "hm_rt"},
        }
    }
    with asgi_server(REDIS_URL=REDIS_TEST_URL) as server:
        socket, subscribed = open_socket(server, world, "nurse", ["tasks"])
        with socket:
            make_encounter(world, "CHECKED_IN")
            first = json.loads(socket.recv(timeout=15))
    assert first["position"] == task_positions(world, after=subscribed["position"])[0]
