"""The process's fan-out costs reads per batch and per viewer, never per socket (issue 15).

`Hub.advance` is driven directly on a hand-made feed (no background loop): the queries it
makes for one batch are counted with 2 sockets and with 40 of the same two users, and the
memberships of many sockets of one user are re-read once per round.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.iam.models import FacilityMembership
from hm_core.patients.services import patient_break_glass
from hm_core.realtime import services
from hm_core.realtime.feed import Feed, Hub, Listener
from hm_core.realtime.items import Delivery
from hm_core.realtime.selectors import tenant_heads
from hm_core.realtime.visibility import Topic, Viewer, WatchKey
from tests.conftest import World
from tests.encounters.conftest import make_encounter, make_patient
from tests.realtime.conftest import auth_message
from tests.realtime.test_consumer import (
    _make_confidential,
    _task_positions_by_patient,
    db,
    run,
    session,
)

pytestmark = pytest.mark.django_db

TASKS = frozenset({Topic("tasks")})


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.HM_REALTIME_POLL_MS = 20
    settings.HM_REALTIME_SAFETY_POLL_MS = 20
    settings.HM_REALTIME_RECHECK_SECONDS = 0.2


def viewer_of(world: World, role: str) -> Viewer:
    viewer = services.viewer_reload(
        user_id=world.users[role].id, tenant_id=world.tenant.id, facility_id=world.main.id
    )
    assert viewer is not None
    return viewer


def fan_out(world: World, *, after: int, viewers: list[Viewer]) -> tuple[int, list[Listener]]:
    """One `advance` of a feed at `after` serving a socket per viewer: its query count."""
    listeners = []
    for viewer in viewers:
        listener = Listener(user_id=viewer.principal.user_id, viewer=viewer)
        listener.topics = TASKS
        listeners.append(listener)
    hub = Hub()
    hub.feeds[world.tenant.id] = Feed(cursor=after, listeners=set(listeners))
    with CaptureQueriesContext(connection) as queries:
        async_to_sync(hub.advance)()
    return len(queries), listeners


def sent_positions(listener: Listener) -> list[int]:
    entries = async_to_sync(listener.take)()
    assert all(isinstance(entry, Delivery) for entry in entries)
    return [item.position for entry in entries for item in entry.items]  # type: ignore[union-attr]


def test_a_batch_costs_the_same_queries_for_2_sockets_and_for_40(world: World) -> None:
    # given a confidential patient, an ordinary one, and a doctor who broke the glass
    secret, plain = make_patient(world, name="Vera"), make_patient(world, name="Paul")
    _make_confidential(secret.id)
    patient_break_glass(scope=world.scope("doctor"), patient_id=secret.id, reason="emergency")
    after = tenant_heads([world.tenant.id])[world.tenant.id]
    # and a batch of check-ins of both (a task each)
    make_encounter(world, "CHECKED_IN", patient=secret)
    make_encounter(world, "CHECKED_IN", patient=plain)
    nurse, doctor = viewer_of(world, "nurse"), viewer_of(world, "doctor")

    # when the feed reads the batch for one socket of each, then for twenty of each
    few, _ = fan_out(world, after=after, viewers=[nurse, doctor])
    many, listeners = fan_out(world, after=after, viewers=[nurse, doctor] * 20)

    # then the reads are the same: the heads, the batch, its confidential patients, and who of
    # the two viewers may not read them (one query each), whatever the number of sockets
    assert few == many == 5
    tasks = _task_positions_by_patient(world)
    for listener in listeners:
        expected = (
            tasks[plain.id] if listener.viewer == nurse else tasks[secret.id] + tasks[plain.id]
        )
        assert sent_positions(listener) == sorted(expected)


def test_a_batch_without_confidential_events_costs_no_visibility_query(world: World) -> None:
    after = tenant_heads([world.tenant.id])[world.tenant.id]
    make_encounter(world, "CHECKED_IN")
    viewers = [viewer_of(world, "nurse"), viewer_of(world, "doctor")] * 10
    # the heads, the batch (its patient is not confidential: nothing more)
    queries, listeners = fan_out(world, after=after, viewers=viewers)
    assert queries == 3
    assert {len(sent_positions(listener)) for listener in listeners} == {1}


def test_a_socket_gets_the_range_with_only_the_items_its_audience_may_see(world: World) -> None:
    # an audience without the tasks permission gets the range (its cursor moves), no item
    after = tenant_heads([world.tenant.id])[world.tenant.id]
    make_encounter(world, "CHECKED_IN")
    head = tenant_heads([world.tenant.id])[world.tenant.id]
    _, [listener] = fan_out(world, after=after, viewers=[viewer_of(world, "billing_clerk")])
    assert async_to_sync(listener.take)() == [Delivery(after=after, upto=head, items=())]


def test_memberships_are_re_read_once_per_viewer_not_per_socket(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a spy on the hub's membership re-reads
    rounds: list[list[WatchKey]] = []
    original = services.viewers_reload

    opened = False

    def recorded(keys: list[WatchKey]) -> dict[WatchKey, Viewer | None]:
        if opened:
            rounds.append(list(keys))
        return original(keys)

    monkeypatch.setattr(services, "viewers_reload", recorded)

    async def scenario() -> Any:
        # when four sockets of the nurse and one of the doctor stay open a few periods
        sockets = [(await session(auth_message(world, role), ["tasks"]))[0] for role in
                   ("nurse", "nurse", "doctor", "nurse", "nurse")]  # fmt: skip
        nonlocal opened
        opened = True  # count whole periods with every socket open
        await asyncio.sleep(1.0)
        return sockets

    run(scenario)
    # then the nurse's four sockets cost as many re-reads as the doctor's one: one per viewer
    # and period (spread over it), never one per socket
    key = {
        role: WatchKey(world.users[role].id, world.tenant.id, world.main.id)
        for role in ("nurse", "doctor")
    }
    reads = {role: sum(keys.count(key[role]) for keys in rounds) for role in key}
    assert reads["nurse"] >= 2
    assert abs(reads["nurse"] - reads["doctor"]) <= 1
    assert all(len(keys) == len(set(keys)) for keys in rounds)


def test_a_revoked_membership_closes_every_socket_of_that_user_only(world: World) -> None:
    async def scenario() -> Any:
        nurses = [(await session(auth_message(world, "nurse"), ["tasks"]))[0] for _ in range(3)]
        doctor, _ = await session(auth_message(world, "doctor"), ["tasks"])
        await db(
            lambda: FacilityMembership.objects.filter(
                user=world.users["nurse"], facility=world.main
            ).update(is_active=False)
        )()
        closed = [await socket.receive_output(timeout=3) for socket in nurses]
        await doctor.send_json_to({"type": "ping"})
        return closed, await doctor.receive_json_from(timeout=3)

    closed, pong = run(scenario)
    assert closed == [{"type": "websocket.close", "code": 4403}] * 3
    assert pong == {"type": "pong"}


def test_viewers_reload_reads_each_distinct_viewer_once(world: World) -> None:
    nurse = WatchKey(world.users["nurse"].id, world.tenant.id, world.main.id)
    gone = WatchKey(uuid.uuid4(), world.tenant.id, world.main.id)
    with CaptureQueriesContext(connection) as once:
        services.viewers_reload([nurse])
    with CaptureQueriesContext(connection) as repeated:
        viewers = services.viewers_reload([nurse, nurse, nurse, gone])
    assert viewers[gone] is None
    assert viewers[nurse] == viewer_of(world, "nurse")
    assert len(repeated) == len(once) + 1  # the unknown user: one read, found missing
