"""The ASGI process's side of the fan-out: one feed per tenant, shared by all its sockets.

A process reads each tenant's new events once, whatever its number of sockets, and decides
once per batch and per audience (a viewer and its topics: the sockets of one user in one
facility that subscribed to the same topics) which items go out, asking who may not read the
batch's confidential patients once per distinct viewer that such an event would reach; each
socket then only sends the chosen, pre-serialised items. Memberships are re-read the same way:
once per distinct (user, tenant, facility) every period and when the tenant's `iam.*` events
pass, whatever the number of that user's sockets; a revoked one closes them all. The feed
wakes on an announcement (channels-redis group, PostgreSQL LISTEN) or on its poll of the
tenants' heads; the poll runs in every mode, so a lost announcement only delays. Reads go
through the process's own connection, so only committed events are ever seen, and because a
tenant's positions are gapless and commit in order, reading `(cursor, head]` misses nothing.

A socket's hand-over from replay to live (see `consumers`): it attaches first (from then on it
queues every range the feed reads), then reads the head H and replays `(after, H]` from the
store; queued positions at or below H are dropped as duplicates, and a queued range starting
past its cursor (a socket that overflowed its queue gets a `CatchUp` instead) makes it read
the missing range from the store. Every position is seen once, in order.
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

from hm_core.realtime import selectors, services
from hm_core.realtime.fanout import NOTIFY_CHANNEL, group_name, mode
from hm_core.realtime.items import CatchUp, Delivery, Item
from hm_core.realtime.visibility import Topic, Viewer, WatchKey, confidential_wanted, pushes

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
BATCH = 500
# A period's membership re-reads are spread over RECHECK_SLICES ticks, RELOAD_CHUNK viewers (3
# statements each) per trip to the database thread: the feed's reads never queue behind more.
RECHECK_SLICES = 50
RELOAD_CHUNK = 5
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
    """One socket as the hub sees it: whose it is, what it subscribed to, and its queue of
    ranges read by its tenant's feed."""

    def __init__(self, *, user_id: uuid.UUID, viewer: Viewer) -> None:
        self.user_id = user_id
        self.viewer = viewer  # as last re-read by the hub (`Hub.watch`)
        self.topics: frozenset[Topic] = frozenset()
        self.revoked = asyncio.Event()  # set once the membership is no longer active
        self._queue: deque[Delivery | CatchUp] = deque()
        self._queued = 0  # positions the queue spans
        self._ready = asyncio.Event()

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.viewer.tenant_id

    @property
    def key(self) -> WatchKey:
        return WatchKey(self.user_id, self.viewer.tenant_id, self.viewer.facility_id)

    def offer(self, delivery: Delivery) -> None:
        span = delivery.upto - delivery.after
        if self._queued + span > settings.HM_REALTIME_QUEUE_MAX:
            # A slow socket: drop its backlog and let it read the range from the store.
            self._queue.clear()
            self._queue.append(CatchUp(delivery.upto))
            self._queued = 0
        else:
            self._queue.append(delivery)
            self._queued += span
        self._ready.set()

    async def take(self) -> list[Delivery | CatchUp]:
        """Everything queued, waiting for at least one."""
        await self._ready.wait()
        self._ready.clear()
        batch = list(self._queue)
        self._queue.clear()
        self._queued = 0
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
        self.watched: dict[WatchKey, set[Listener]] = {}
        self._recheck = asyncio.Event()
        self._recheck_tenants: set[uuid.UUID] = set()

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

    def watch(self, listener: Listener) -> None:
        """Re-read `listener`'s membership with those of every socket of the same viewer."""
        self._ensure_running()
        self.watched.setdefault(listener.key, set()).add(listener)

    def unwatch(self, listener: Listener) -> None:
        for key, listeners in list(self.watched.items()):
            listeners.discard(listener)
            if not listeners:
                del self.watched[key]

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
        self._tasks = [asyncio.ensure_future(self._run()), asyncio.ensure_future(self._rechecks())]
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
                # The cursor moves before any await: a socket attaching meanwhile reads the
                # head after attaching, so its replay covers this range.
                after, feed.cursor = feed.cursor, items[-1].position
                await self._deliver(list(feed.listeners), after=after, items=items)
                if any(item.event_type.startswith("iam.") for item in items):
                    self._recheck_tenants.add(tenant_id)
                    self._recheck.set()

    async def _deliver(self, listeners: list[Listener], *, after: int, items: list[Item]) -> None:
        """Decide once per audience (viewer, topics) which items go out, and queue them."""
        audiences: dict[tuple[Viewer, frozenset[Topic]], list[Listener]] = {}
        for listener in listeners:
            audiences.setdefault((listener.viewer, listener.topics), []).append(listener)
        wanted: dict[Viewer, set[uuid.UUID]] = {}
        for viewer, topics in audiences:
            if patients := confidential_wanted(viewer, topics, items):
                wanted.setdefault(viewer, set()).update(patients)
        hidden = await db(services.patients_hidden_by_viewer)(wanted) if wanted else {}
        upto = items[-1].position
        for (viewer, topics), members in audiences.items():
            chosen = pushes(viewer, topics, items, hidden.get(viewer, frozenset()))
            delivery = Delivery(after=after, upto=upto, items=chosen)
            for listener in members:
                listener.offer(delivery)

    async def _rechecks(self) -> None:
        """Re-read each watched membership once per HM_REALTIME_RECHECK_SECONDS, spread over
        the period (a slice every fiftieth of it: no burst of reads before the feed's), and those
        of a tenant at once when its `iam.*` events pass: once per distinct viewer."""
        rotation: deque[WatchKey] = deque()
        due = 0.0  # re-reads owed: a fiftieth of the rotation per tick, so each once a period
        while True:
            await wait_set(self._recheck, settings.HM_REALTIME_RECHECK_SECONDS / RECHECK_SLICES)
            self._recheck.clear()
            tenants, self._recheck_tenants = self._recheck_tenants, set()
            keys = [key for key in self.watched if key.tenant_id in tenants]
            queued = set(rotation)
            rotation.extend(key for key in self.watched if key not in queued)
            due = min(due + len(rotation) / RECHECK_SLICES, len(rotation))
            for _ in range(int(due)):
                due -= 1
                key = rotation.popleft()
                if key in self.watched:  # a key whose sockets all closed leaves the rotation
                    keys.append(key)
                    rotation.append(key)
            try:
                await self._reload(list(dict.fromkeys(keys)))
            except Exception:
                logger.exception("realtime: re-reading memberships failed; retrying")
                self._recheck_tenants |= tenants
                await asyncio.sleep(1)

    async def _reload(self, keys: list[WatchKey]) -> None:
        for start in range(0, len(keys), RELOAD_CHUNK):
            viewers = await db(services.viewers_reload)(keys[start : start + RELOAD_CHUNK])
            for key, viewer in viewers.items():
                for listener in list(self.watched.get(key, ())):
                    if viewer is None:
                        listener.revoked.set()
                    else:
                        listener.viewer = viewer

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
