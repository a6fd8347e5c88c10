"""The ASGI process's side of the fan-out: one feed per tenant, shared by all its sockets.

A process reads each tenant's new events once, whatever its number of sockets, and hands the
decoded items to every socket of that tenant (each filters by topic and visibility). The feed
wakes on an announcement (channels-redis group, PostgreSQL LISTEN) or on its poll of the
tenants' heads; the poll runs in every mode, so a lost announcement only delays. Reads go
through the process's own connection, so only committed events are ever seen, and because a
tenant's positions are gapless and commit in order, reading `(cursor, head]` misses nothing.

A socket's hand-over from replay to live (see `consumers`): it attaches first (from then on it
queues every item the feed reads), then reads the head H and replays `(after, H]` from the
store; queued items at or below H are dropped as duplicates, and a queued item past
`cursor + 1` (a socket that overflowed its queue gets a `CatchUp` instead) makes it read the
missing range from the store. Every position is seen once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import psycopg
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connection, connections

from hm_core.realtime import selectors
from hm_core.realtime.fanout import NOTIFY_CHANNEL, group_name, mode
from hm_core.realtime.items import CatchUp, Item

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
BATCH = 500
# libpq parameters the LISTEN connection takes from Django's (not its cursor factory, adapters).
_LIBPQ_KEYS = frozenset(
    {"dbname", "user", "password", "host", "port", "sslmode", "sslrootcert", "sslcert",
     "sslkey", "connect_timeout", "options", "application_name", "passfile", "service",
     "target_session_attrs"}
)  # fmt: skip


def db(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run an ORM function off the event loop, in the thread that keeps this process's
    socket connection; a broken connection is dropped so that the next call opens another."""

    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DatabaseError:
            if not connection.in_atomic_block:
                connection.close()
            raise

    return sync_to_async(guarded, thread_sensitive=True)


async def wait_set(event: asyncio.Event, seconds: float) -> None:
    """Wait until `event` is set or `seconds` pass, whichever comes first.

    Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that arrives as the
    event is set, so a feed or recheck loop cancelled by `Hub.stop` (or the loop's shutdown)
    could run on forever. `asyncio.timeout` tells its own timeout from a cancellation."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class Listener:
    """One socket's queue of items read by its tenant's feed."""

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        self.recheck = asyncio.Event()  # set when the tenant's access rules may have changed
        self._items: deque[Item | CatchUp] = deque()
        self._ready = asyncio.Event()

    def offer(self, items: list[Item]) -> None:
        if len(self._items) + len(items) > settings.HM_REALTIME_QUEUE_MAX:
            # A slow socket: drop its backlog and let it read the range from the store.
            self._items.clear()
            self._items.append(CatchUp(items[-1].position))
        else:
            self._items.extend(items)
        self._ready.set()

    async def take(self) -> list[Item | CatchUp]:
        """Everything queued, waiting for at least one."""
        await self._ready.wait()
        self._ready.clear()
        batch = list(self._items)
        self._items.clear()
        return batch


@dataclass
class Feed:
    cursor: int
    listeners: set[Listener] = field(default_factory=set)


class Hub:
    """The feeds of one process (one event loop)."""

    def __init__(self) -> None:
        self.feeds: dict[uuid.UUID, Feed] = {}
        self._poke = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._channel: str | None = None
        self._channel_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self.mode = mode()

    def poke(self) -> None:
        self._poke.set()

    async def attach(self, listener: Listener) -> None:
        """Start queueing the tenant's items for `listener` (from the feed's cursor on)."""
        self._ensure_running()
        tenant_id = listener.tenant_id
        if tenant_id not in self.feeds:
            await self._listen_to(tenant_id)  # before reading the head: nothing slips between
            head = (await db(selectors.tenant_heads)([tenant_id]))[tenant_id]
            self.feeds.setdefault(tenant_id, Feed(cursor=head))
        self.feeds[tenant_id].listeners.add(listener)

    def detach(self, listener: Listener) -> None:
        feed = self.feeds.get(listener.tenant_id)
        if feed is None:
            return
        feed.listeners.discard(listener)
        if not feed.listeners:
            del self.feeds[listener.tenant_id]
            if self._channel is not None:
                layer: Any = get_channel_layer()
                self._spawn(layer.group_discard(group_name(listener.tenant_id), self._channel))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _ensure_running(self) -> None:
        if self._tasks and not any(task.done() for task in self._tasks):
            return
        for task in self._tasks:
            task.cancel()
        self._tasks = [asyncio.ensure_future(self._run())]
        if self.mode == "notify":
            self._tasks.append(asyncio.ensure_future(self._listen_pg()))
        elif self.mode == "redis":
            self._tasks.append(asyncio.ensure_future(self._listen_redis()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded: a task that swallowed its cancellation must not hang the shutdown
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []

    async def _listen_to(self, tenant_id: uuid.UUID) -> None:
        if self.mode != "redis":
            return
        layer: Any = get_channel_layer()
        await layer.group_add(group_name(tenant_id), await self._channel_name())

    async def _channel_name(self) -> str:
        """The process's one channels-redis channel, member of each served tenant's group."""
        async with self._channel_lock:
            if self._channel is None:
                layer: Any = get_channel_layer()
                self._channel = await layer.new_channel()
            return self._channel

    async def _run(self) -> None:
        poll_ms = (
            settings.HM_REALTIME_POLL_MS
            if self.mode == "poll"
            else settings.HM_REALTIME_SAFETY_POLL_MS
        )
        while True:
            await wait_set(self._poke, poll_ms / 1000)
            self._poke.clear()
            if not self.feeds:
                continue
            try:
                await self.advance()
            except Exception:
                logger.exception("realtime: reading new events failed; retrying")
                await asyncio.sleep(1)

    async def advance(self) -> None:
        """Read every served tenant's events past its cursor and queue them for its sockets."""
        heads = await db(selectors.tenant_heads)(list(self.feeds))
        for tenant_id, head in heads.items():
            while (feed := self.feeds.get(tenant_id)) is not None and head > feed.cursor:
                items = await db(selectors.events_between)(
                    tenant_id=tenant_id, after=feed.cursor, upto=head, limit=BATCH
                )
                if not items:
                    break
                feed.cursor = items[-1].position
                iam_changed = any(item.event_type.startswith("iam.") for item in items)
                for listener in list(feed.listeners):
                    listener.offer(items)
                    if iam_changed:
                        listener.recheck.set()

    async def _listen_redis(self) -> None:
        layer: Any = get_channel_layer()
        while True:
            try:
                await layer.receive(await self._channel_name())
                self.poke()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("realtime: Redis unreachable; polling until it answers")
                await asyncio.sleep(1)

    async def _listen_pg(self) -> None:
        params = connections["default"].get_connection_params()
        params = {key: value for key, value in params.items() if key in _LIBPQ_KEYS}
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    **params, autocommit=True
                ) as listen:
                    await listen.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.poke()  # whatever committed while nobody listened
                    async for note in listen.notifies():
                        if _tenant(note.payload) in self.feeds:
                            self.poke()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError):
                logger.warning("realtime: LISTEN connection lost; polling until it is back")
                await asyncio.sleep(1)


def _tenant(payload: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(payload)
    except ValueError:
        return None


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """This event loop's hub (one per server process; tests run a loop each)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]
