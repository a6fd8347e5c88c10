"""`/ws/events/` through Channels' WebsocketCommunicator: fast, in-process, both engines.

The test's writes and the socket's reads share the test's connection (thread-sensitive calls
run in the test's thread), so the feed's poll sees the scenario's events at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection

from hm_core.audit.models import AuditRecord
from hm_core.common import rls
from hm_core.common.scope import unscoped
from hm_core.encounters.services import encounter_check_in
from hm_core.events import store
from hm_core.events.models import Event
from hm_core.iam.lifecycle import user_deactivate
from hm_core.iam.models import FacilityMembership
from hm_core.patients.models import Patient
from hm_core.patients.services import patient_break_glass
from hm_core.realtime import selectors as realtime_selectors
from hm_core.realtime import services
from hm_core.realtime.consumers import EventsConsumer
from hm_core.realtime.feed import hub
from tests.conftest import World
from tests.encounters.conftest import CRITICAL_VITALS, make_encounter, make_patient
from tests.realtime.conftest import auth_message, event_positions

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.HM_REALTIME_POLL_MS = 20
    settings.HM_REALTIME_SAFETY_POLL_MS = 20
    settings.HM_REALTIME_RECHECK_SECONDS = 0.2
    settings.HM_REALTIME_AUTH_TIMEOUT_SECONDS = 0.5


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async scenario in this thread's transaction, stopping the feed afterwards."""

    async def wrapped() -> Any:
        try:
            return await scenario()
        finally:
            await hub().stop()

    return async_to_sync(wrapped)()


async def connect() -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/events/")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def session(message: dict[str, Any], topics: list[str], **extra: Any) -> Any:
    """A socket past auth and subscribe; returns it with the `subscribed` answer."""
    socket = await connect()
    await socket.send_json_to(message)
    assert await socket.receive_json_from() == {"type": "ready"}
    await socket.send_json_to({"type": "subscribe", "topics": topics, **extra})
    return socket, await socket.receive_json_from()


async def drain(socket: WebsocketCommunicator, *, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Every message until the socket has been quiet for `quiet` seconds."""
    received = []
    while True:
        try:
            received.append(await socket.receive_json_from(timeout=quiet))
        except TimeoutError:
            return received


def db(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    return sync_to_async(fn, thread_sensitive=True)


def positions_of(world: World, *, stream_type: str, after: int = 0) -> list[int]:
    rows = Event.objects.filter(
        tenant_id=world.tenant.id, stream_type=stream_type, position__gt=after
    ).order_by("position")
    return list(rows.values_list("position", flat=True))


# --- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"token": "not-a-jwt"}, 4401),
        ({"token": ""}, 4401),
        ({"type": "subscribe"}, 4400),
        ({"tenant_id": "nope"}, 4400),
        ({"facility_id": str(uuid.uuid4())}, 4403),
        ({"tenant_id": str(uuid.uuid4())}, 4403),
    ],
)
def test_auth_refused_closes_with_the_contract_code(world: World, change: dict, code: int) -> None:
    # given a first message spoiled in one way
    async def scenario() -> Any:
        socket = await connect()
        await socket.send_json_to({**auth_message(world, "nurse"), **change})
        # then the socket closes with the code
        return await socket.receive_output(timeout=2)

    assert run(scenario) == {"type": "websocket.close", "code": code}


def test_auth_refused_for_an_inactive_user(world: World) -> None:
    world.users["nurse"].is_active = False
    world.users["nurse"].save(update_fields=["is_active"])

    async def scenario() -> Any:
        socket = await connect()
        await socket.send_json_to(auth_message(world, "nurse"))
        return await socket.receive_output(timeout=2)

    assert run(scenario)["code"] == 4401


def test_a_silent_client_is_closed_after_the_auth_timeout(world: World) -> None:
    async def scenario() -> Any:
        socket = await connect()
        return await socket.receive_output(timeout=3)

    assert run(scenario) == {"type": "websocket.close", "code": 4408}


# --- topics and permissions ------------------------------------------------------------


def test_tasks_topic_gets_only_task_events_of_its_facility(world: World) -> None:
    async def scenario() -> Any:
        socket, subscribed = await session(auth_message(world, "nurse"), ["tasks"])
        assert subscribed["type"] == "subscribed"
        assert subscribed["topics"] == ["tasks"]
        # when an encounter is checked in at main, and another at annex
        await db(make_encounter)(world, "CHECKED_IN")
        await db(make_encounter)(world, "CHECKED_IN", facility=world.annex)
        return subscribed["position"], await drain(socket)

    start, messages = run(scenario)
    # then the nurse of main sees main's task events only, each once, in order
    main_tasks = Event.objects.filter(
        tenant_id=world.tenant.id, stream_type="task", facility_id=world.main.id, position__gt=start
    ).values_list("position", flat=True)
    assert event_positions(messages) == list(main_tasks)
    assert len(main_tasks) == 1
    event = messages[0]
    assert event["event_type"] == "task.created"
    assert set(event) == {"type", "position", "event_type", "occurred_at", "stream", "summary"}
    assert event["stream"]["type"] == "task"
    assert event["occurred_at"].endswith("Z")


def test_alerts_topic_gets_alerts_not_tasks(world: World) -> None:
    async def scenario() -> Any:
        socket, _ = await session(auth_message(world, "nurse"), ["alerts"])
        await db(make_encounter)(world, "VITALS", vitals=CRITICAL_VITALS)
        return await drain(socket)

    messages = run(scenario)
    assert {m["event_type"] for m in messages} == {"alert.raised"}
    assert {m["stream"]["type"] for m in messages} == {"alert"}


def test_encounter_topic_gets_that_encounter_only_and_is_audited(world: World) -> None:
    watched = make_encounter(world, "SCHEDULED")
    other = make_encounter(world, "SCHEDULED")
    scope = world.scope("admin")

    async def scenario() -> Any:
        socket, subscribed = await session(
            auth_message(world, "doctor"), [f"encounter:{watched.id}"]
        )
        assert subscribed["type"] == "subscribed"
        for encounter in (other, watched):
            await db(encounter_check_in)(scope=scope, encounter_id=encounter.id)
        return await drain(socket)

    messages = run(scenario)
    types = [m["event_type"] for m in messages]
    assert types == ["encounter.checked_in", "task.created"]  # the task is about that encounter
    assert messages[0]["stream"]["id"] == str(watched.id)
    with unscoped("test: read the audit trail"):
        reads = AuditRecord.objects.filter(action="encounter.events_subscribed")
        assert [r.patient_id for r in reads] == [watched.patient_id]


def test_patient_topic_sees_patient_facts_from_every_facility_but_clinical_ones_of_its_own(
    world: World,
) -> None:
    patient = make_patient(world)

    async def scenario() -> Any:
        socket, _ = await session(auth_message(world, "nurse"), [f"patient:{patient.id}"])
        await db(make_encounter)(world, "CHECKED_IN", patient=patient)  # at main
        await db(make_encounter)(world, "CHECKED_IN", patient=patient, facility=world.annex)
        return await drain(socket)

    messages = run(scenario)
    facilities = set(
        Event.objects.filter(
            tenant_id=world.tenant.id, position__in=event_positions(messages)
        ).values_list("facility_id", flat=True)
    )
    assert facilities == {world.main.id}
    assert "encounter.checked_in" in {m["event_type"] for m in messages}


def test_unknown_encounter_and_another_facilitys_are_not_found(world: World) -> None:
    annex_encounter = make_encounter(world, "SCHEDULED", facility=world.annex)

    async def scenario() -> Any:
        answers = []
        for topic in (f"encounter:{uuid.uuid4()}", f"encounter:{annex_encounter.id}"):
            _socket, answer = await session(auth_message(world, "nurse"), [topic])
            answers.append(answer)
        return answers

    for answer in run(scenario):
        assert answer["type"] == "error"
        assert answer["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("topics", "code"),
    [
        (["tasks"], "permission_denied"),  # a billing clerk may not list tasks
        (["billing"], "invalid_topic"),
        (["encounter:not-a-uuid"], "invalid_topic"),
        ([], "invalid_topic"),
    ],
)
def test_subscribe_refusals(world: World, topics: list[str], code: str) -> None:
    async def scenario() -> Any:
        socket, answer = await session(auth_message(world, "billing_clerk"), topics)
        # the socket stays usable
        await socket.send_json_to({"type": "ping"})
        return answer, await socket.receive_json_from()

    answer, pong = run(scenario)
    assert answer["type"] == "error"
    assert answer["error"]["code"] == code
    assert pong == {"type": "pong"}


def test_a_second_subscribe_is_refused(world: World) -> None:
    async def scenario() -> Any:
        socket, _ = await session(auth_message(world, "nurse"), ["tasks"])
        await socket.send_json_to({"type": "subscribe", "topics": ["alerts"]})
        return await socket.receive_json_from()

    assert run(scenario)["error"]["code"] == "already_subscribed"


def test_another_tenant_hears_nothing(world: World, other_world: World) -> None:
    async def scenario() -> Any:
        socket, _ = await session(auth_message(other_world, "nurse"), ["tasks", "alerts"])
        await db(make_encounter)(world, "VITALS", vitals=CRITICAL_VITALS)
        return await drain(socket)

    assert run(scenario) == []


# --- replay ----------------------------------------------------------------------------


def test_after_replays_what_was_missed_then_goes_live_without_gaps_or_duplicates(
    world: World,
) -> None:
    # given task events before the socket opens
    make_encounter(world, "CHECKED_IN")
    after = positions_of(world, stream_type="task")[0] - 1
    make_encounter(world, "CHECKED_IN")

    async def scenario() -> Any:
        socket, subscribed = await session(auth_message(world, "nurse"), ["tasks"], after=after)
        for _ in range(3):
            await db(make_encounter)(world, "VITALS")
        return subscribed, await drain(socket)

    subscribed, messages = run(scenario)
    positions = event_positions(messages)
    assert positions == positions_of(world, stream_type="task", after=after)
    assert len(positions) == 2 + 3 * 3  # vitals task before; vitals done, consult task after
    assert subscribed["position"] < positions[-1]


def test_after_too_far_back_is_refused(world: World, settings: Any) -> None:
    settings.HM_REALTIME_MAX_REPLAY = 3
    make_encounter(world, "CHECKED_IN")

    async def scenario() -> Any:
        _, answer = await session(auth_message(world, "nurse"), ["tasks"], after=0)
        return answer

    answer = run(scenario)
    assert answer["error"]["code"] == "replay_too_long"


def test_a_slow_socket_reads_what_its_queue_dropped_from_the_store(
    world: World, settings: Any
) -> None:
    settings.HM_REALTIME_QUEUE_MAX = 1

    async def scenario() -> Any:
        socket, subscribed = await session(auth_message(world, "nurse"), ["tasks"])
        for _ in range(3):
            await db(make_encounter)(world, "VITALS")
        return subscribed, await drain(socket)

    subscribed, messages = run(scenario)
    assert event_positions(messages) == positions_of(
        world, stream_type="task", after=subscribed["position"]
    )


# --- revocation ------------------------------------------------------------------------


def test_a_revoked_membership_closes_the_socket(world: World) -> None:
    async def scenario() -> Any:
        socket, _ = await session(auth_message(world, "nurse"), ["tasks"])
        await db(
            lambda: FacilityMembership.objects.filter(
                user=world.users["nurse"], facility=world.main
            ).update(is_active=False)
        )()
        return await socket.receive_output(timeout=3)

    assert run(scenario) == {"type": "websocket.close", "code": 4403}


def test_deactivating_the_user_closes_the_socket_at_once(world: World, settings: Any) -> None:
    # given a re-check period far longer than the test: only the iam event can close it
    settings.HM_REALTIME_RECHECK_SECONDS = 60
    nurse, admin = world.users["nurse"], world.scope("admin")

    async def scenario() -> Any:
        socket, _ = await session(auth_message(world, "nurse"), ["tasks"])
        # when an admin deactivates the nurse's account
        await db(user_deactivate)(scope=admin, user_id=nurse.id)
        return await socket.receive_output(timeout=3)

    # then the open socket is closed as for a revoked membership (contract §19)
    assert run(scenario) == {"type": "websocket.close", "code": 4403}


# --- row-level security (PostgreSQL) ---------------------------------------------------------


def _db_session() -> tuple[str, str]:
    """Who the socket's next statement runs as: the database's own answer on PostgreSQL, the
    wanted state elsewhere (SQLite has no RLS)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_setting('app.tenant_id', true)")
            user, tenant = cursor.fetchone()
            return user, tenant or ""
    as_app, tenant = rls.wanted()
    return (settings.DB_APP_ROLE if as_app else "owner"), tenant


def test_the_socket_reads_with_no_tenant_then_inside_its_tenant(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given spies on the socket's reads: the user, the membership, the audited subscription,
    # the replay and live events
    seen: dict[str, set[tuple[str, str]]] = {}

    def spy(module: Any, name: str) -> None:
        original = getattr(module, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            seen.setdefault(name, set()).add(_db_session())
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)

    for module, name in (
        (services, "get_user_model"),
        (services, "principal_of_user"),
        (services, "audited_read"),
        (realtime_selectors, "item_of"),
    ):
        spy(module, name)
    make_encounter(world, "CHECKED_IN")
    patient = make_patient(world)

    async def scenario() -> Any:
        socket, _ = await session(
            auth_message(world, "nurse"), ["tasks", f"patient:{patient.id}"], after=0
        )
        await db(make_encounter)(world, "CHECKED_IN", patient=patient)
        return await drain(socket)

    messages = run(scenario)
    assert event_positions(messages)  # replayed and live events did arrive
    # then the user is read with no tenant, everything after it inside the socket's tenant
    app, tenant = settings.DB_APP_ROLE, str(world.tenant.id)
    assert seen["get_user_model"] == {(app, "")}
    assert seen["principal_of_user"] == {(app, tenant)}
    assert seen["audited_read"] == {(app, tenant)}
    assert seen["item_of"] == {(app, tenant)}


# --- confidential patients (contract §18) ----------------------------------------------------


def _make_confidential(patient_id: uuid.UUID) -> None:
    with unscoped("test: flag the patient confidential"):
        Patient.objects.filter(id=patient_id).update(confidential=True)


def test_a_confidential_patients_events_reach_its_care_team_only(world: World) -> None:
    # given a confidential patient and an ordinary one, and a doctor who broke the glass
    secret, plain = make_patient(world, name="Vera"), make_patient(world, name="Paul")
    _make_confidential(secret.id)
    patient_break_glass(scope=world.scope("doctor"), patient_id=secret.id, reason="emergency")

    async def scenario() -> Any:
        nurse, _ = await session(auth_message(world, "nurse"), ["tasks"])
        doctor, _ = await session(auth_message(world, "doctor"), ["tasks"])
        # when both patients are checked in (a task each)
        await db(make_encounter)(world, "CHECKED_IN", patient=secret)
        await db(make_encounter)(world, "CHECKED_IN", patient=plain)
        return await drain(nurse), await drain(doctor)

    nurse, doctor = run(scenario)
    tasks_of = _task_positions_by_patient(world)
    assert len(tasks_of[secret.id]) == len(tasks_of[plain.id]) == 1
    # then the nurse (no care team) gets the ordinary patient's task only
    assert event_positions(nurse) == tasks_of[plain.id]
    # and the doctor, under a break-glass grant, both
    assert event_positions(doctor) == sorted(tasks_of[secret.id] + tasks_of[plain.id])


def test_a_confidential_patient_topic_is_not_found_outside_the_care_team(world: World) -> None:
    secret = make_patient(world, name="Vera")
    _make_confidential(secret.id)

    async def scenario() -> Any:
        _, answer = await session(auth_message(world, "nurse"), [f"patient:{secret.id}"])
        return answer

    answer = run(scenario)
    assert answer["type"] == "error"
    assert answer["error"]["code"] == "not_found"


def test_confidentiality_costs_one_query_per_batch_not_per_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given several task events about a confidential patient, and as many about another
    secret, plain = make_patient(world, name="Vera"), make_patient(world, name="Paul")
    _make_confidential(secret.id)
    for patient in (secret, secret, plain, plain):
        make_encounter(world, "CHECKED_IN", patient=patient)
    calls: list[set[uuid.UUID]] = []
    original = services.patients_hidden

    def counted(*, session: Any, patient_ids: set[uuid.UUID]) -> frozenset[uuid.UUID]:
        calls.append(set(patient_ids))
        return original(session=session, patient_ids=patient_ids)

    monkeypatch.setattr(services, "patients_hidden", counted)

    async def scenario() -> Any:
        socket, _ = await session(auth_message(world, "nurse"), ["tasks"], after=0)
        return await drain(socket)

    messages = run(scenario)
    # when the socket replays them (one batch): one visibility query for the whole batch
    assert calls == [{secret.id}]
    assert event_positions(messages) == _task_positions_by_patient(world)[plain.id]


def _task_positions_by_patient(world: World) -> dict[uuid.UUID, list[int]]:
    found: dict[uuid.UUID, list[int]] = {}
    rows = Event.objects.filter(
        tenant_id=world.tenant.id, stream_type="task", facility_id=world.main.id
    ).order_by("position")
    for row in rows:
        patient_id = store.load(row).event.patient_ref()
        if patient_id is not None:
            found.setdefault(patient_id, []).append(row.position)
    return found
