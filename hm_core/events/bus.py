"""The in-process bus: publish appends events, then hands each one to its subscribers.

Stages run in a fixed order for every event: the module's own projection, the timeline,
tasks, audit — all inside the appending transaction, so a failing subscriber rolls the whole
command back. Policies (reactions that call other services) run after the projections of the
event that caused them, breadth-first and depth-limited; they are skipped on replay.
After-commit subscribers run once the transaction commits and never roll anything back.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, TypeVar

from django.apps import apps
from django.conf import settings
from django.db import transaction

from hm_core.common.errors import Conflict
from hm_core.common.scope import Scope
from hm_core.events import store, subscriptions, wakeups
from hm_core.events.base import DomainEvent, EventMeta, Recorded, StreamRef
from hm_core.events.unit_of_work import UnitOfWork, command_block

logger = logging.getLogger(__name__)

Handler = Callable[[Any, EventMeta], None]
H = TypeVar("H", bound=Handler)


class Stage(IntEnum):
    """Order in which in-transaction subscribers see an event."""

    PROJECTION = 10
    TIMELINE = 20
    AUDIT = 90
    POLICY = 100  # run after every projection of the event, breadth-first


@dataclass(frozen=True)
class Subscription:
    handler: Handler
    event_types: frozenset[str] | None  # None: every event
    stage: Stage

    @property
    def name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"

    @property
    def module(self) -> str:
        """The hm_core module that owns the subscriber: `hm_core.tasks.policies` → `tasks`."""
        parts = self.handler.__module__.split(".")
        return parts[1] if len(parts) > 2 and parts[0] == "hm_core" else parts[0]

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


_subscriptions: list[Subscription] = []


def subscribe(
    *event_classes: type[DomainEvent] | str,
    stage: Stage = Stage.PROJECTION,
    all_events: bool = False,
) -> Callable[[H], H]:
    """Register the decorated function for `event_classes` (or every event with `all_events`).

    A type string ("appointment.marked_no_show") subscribes to an event another module
    publishes without importing its class: the handler receives that class's instance.
    """
    if not event_classes and not all_events:
        raise ValueError("subscribe() needs event classes or all_events=True")

    def decorator(handler: H) -> H:
        if apps.ready:
            raise RuntimeError(
                f"late subscription of {handler.__qualname__}: subscribe from apps.py ready()"
            )
        types = None if all_events else frozenset(map(_type_of, event_classes))
        _subscriptions.append(Subscription(handler, types, stage))
        _subscriptions.sort(key=lambda s: s.stage)  # stable: keeps registration order per stage
        return handler

    return decorator


def _type_of(cls: type[DomainEvent] | str) -> str:
    return cls if isinstance(cls, str) else cls.event_type


def routing_table() -> list[Subscription]:
    """Every subscription in dispatch order, for `manage.py event_routes` and the docs."""
    return list(_subscriptions)


# Events whose policies still have to run, and how deep in the causal chain each one is.
_policy_queue: contextvars.ContextVar[deque[tuple[Recorded, int]] | None] = contextvars.ContextVar(
    "hm_policy_queue", default=None
)
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("hm_bus_depth", default=0)


def publish(
    *,
    scope: Scope,
    stream: StreamRef,
    expected_version: int | None,
    events: Sequence[DomainEvent],
    occurred_at: datetime | None = None,
) -> list[Recorded]:
    """Append `events` and dispatch them; the caller's transaction commits or rolls back all."""
    # Policies' publishes run inside this one; the outermost publish wakes the workers once.
    outermost = _policy_queue.get() is None
    with command_block() as uow:
        recorded = store.append(
            scope=scope,
            stream=stream,
            expected_version=expected_version,
            events=events,
            occurred_at=occurred_at,
        )
        for item in recorded:
            _dispatch_in_transaction(item)
        _run_policies(recorded)
        if outermost:
            _wake_after_commit(scope.tenant_id, _advance_idle(uow, scope.tenant_id))
    return recorded


@dataclass
class _Idle:
    """Whether a unit of work's events turned out to be nobody's work (set at its last flush)."""

    value: bool = False


@dataclass
class _IdleMove:
    """The move of one tenant's idle checkpoints for a whole unit of work: one UPDATE queued
    when it finishes, from the head it locked to the head it leaves, whatever number of
    commands it ran (a FHIR Bundle runs hundreds). Listeners are judged as the unit of work
    leaves them, which is what the async workers will see once it commits."""

    uow: UnitOfWork
    tenant_id: uuid.UUID
    idle: _Idle

    def __call__(self) -> None:
        head = self.uow.heads.get(self.tenant_id)
        if head is None or head.position == head.start:  # its events were rolled back
            self.idle.value = True
            return
        queued = subscriptions.advance_idle(
            self.tenant_id,
            from_position=head.start,
            to_position=head.position,
            event_types=set(self.uow.event_types),
        )
        if queued is None:
            self.idle.value = not subscriptions.async_subscriptions()
            return
        update, total = queued

        def counted(moved: int) -> None:
            self.idle.value = moved == total

        update.rows = counted
        self.uow.add(update)


def _advance_idle(uow: UnitOfWork, tenant_id: uuid.UUID) -> _Idle:
    """Have the unit of work move, when it finishes, the caught-up checkpoints its events do
    not concern (queued once per tenant; every later command shares it)."""
    key = ("hm_idle", tenant_id)
    move = uow.closing.get(key)
    if not isinstance(move, _IdleMove):
        move = _IdleMove(uow, tenant_id, _Idle())
        uow.closing[key] = move
    return move.idle


@dataclass
class _Wake:
    """The after-commit nudge of one tenant: commit listeners (sockets) always hear of it; the
    async subscriptions are woken unless every command of the transaction found its events
    were nobody's work."""

    tenant_id: uuid.UUID
    commands: list[_Idle]

    @property
    def hm_key(self) -> tuple[str, uuid.UUID]:
        return ("hm_wake", self.tenant_id)

    def __call__(self) -> None:
        busy = not all(idle.value for idle in self.commands)
        wakeups.committed(self.tenant_id, wake_subscriptions=busy)


def _wake_after_commit(tenant_id: uuid.UUID, idle: _Idle) -> None:
    """One nudge per tenant per transaction, however many commands it runs (an HL7 ADT^A04 runs
    three): async subscribers read the store themselves, and each nudge in the embedded mode is
    a drain the caller waits for. A savepoint rolled back takes its queued nudge with it, so a
    later command in the same transaction queues its own."""
    connection = transaction.get_connection()
    for _, func, _ in connection.run_on_commit:
        if isinstance(func, _Wake) and func.tenant_id == tenant_id:
            if not any(known is idle for known in func.commands):
                func.commands.append(idle)
            return
    transaction.on_commit(_Wake(tenant_id, [idle]), robust=True)


def _routes(event_type: str, *, policies: bool) -> list[Subscription]:
    """The subscriptions of one event type in dispatch order, projections or policies (worked
    out once per type: subscriptions are fixed once the apps are ready, and a Bundle dispatches
    hundreds of events to ~150 subscriptions)."""
    global _routed
    # Made again for another list, or a longer one (tests put a list of theirs in place).
    if _routed[0] is not _subscriptions or _routed[1] != len(_subscriptions):
        _routed = (_subscriptions, len(_subscriptions), {})
    found = _routed[2].get((event_type, policies))
    if found is None:
        found = [
            sub
            for sub in _subscriptions
            if sub.wants(event_type) and (sub.stage is Stage.POLICY) == policies
        ]
        if apps.ready:
            _routed[2][(event_type, policies)] = found
    return found


_routed: tuple[list[Subscription], int, dict[tuple[str, bool], list[Subscription]]] = ([], 0, {})


def _dispatch_in_transaction(item: Recorded, *, modules: frozenset[str] | None = None) -> None:
    for sub in _routes(item.meta.event_type, policies=False):
        if modules is not None and sub.module not in modules:
            continue
        sub.handler(item.event, item.meta)


def _run_policies(recorded: Iterable[Recorded]) -> None:
    """Run policies breadth-first; a nested publish only enqueues its events for the outer loop."""
    queue = _policy_queue.get()
    depth = _depth.get()
    if queue is not None:
        queue.extend((item, depth + 1) for item in recorded)
        return
    queue = deque((item, 1) for item in recorded)
    token = _policy_queue.set(queue)
    try:
        while queue:
            item, level = queue.popleft()
            if level > settings.HM_BUS_MAX_DEPTH:
                raise Conflict(
                    "Policy chain too deep.",
                    code="policy_depth_exceeded",
                    details={"event_type": item.meta.event_type},
                )
            _run_policies_of(item, level)
    finally:
        _policy_queue.reset(token)


def _run_policies_of(item: Recorded, level: int) -> None:
    token = _depth.set(level)
    try:
        for sub in _routes(item.meta.event_type, policies=True):
            sub.handler(item.event, item.meta)
    finally:
        _depth.reset(token)


def replay(item: Recorded, *, modules: frozenset[str] | None = None) -> None:
    """Hand a stored event to the replayable subscribers (in-transaction, not policies),
    optionally only those of some modules (`"timeline"`, `"tasks"`, ...)."""
    _dispatch_in_transaction(item, modules=modules)
