"""`/ws/events/`: authenticate, subscribe, replay what was missed, then push live (§19).

Protocol (docs/realtime.md): the first message is `{"type": "auth", "token", "tenant_id",
"facility_id"}` → `{"type": "ready"}`, or a close with 4401 (bad token) / 4403 (no membership)
/ 4400 (not an auth message) / 4408 (none in time). Then one `{"type": "subscribe", "topics",
"after"?}` → `{"type": "subscribed", "topics", "position"}`, the replay of `(after, position]`
and live events, each once, in position order. `{"type": "ping"}` → `{"type": "pong"}`.

PostgreSQL row-level security (docs/integrity.md): a socket runs as `DB_APP_ROLE` with no
tenant from its first query, like a web request; authentication reads the membership inside the
tenant the auth message names, and every read after it (topics, audited subscriptions, replay,
re-checks, confidential patients) runs inside the socket's tenant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from hm_core.common import rls
from hm_core.common.errors import HmError
from hm_core.common.scope import RequestContext
from hm_core.realtime import selectors, services
from hm_core.realtime.errors import (
    CLOSE_AUTH_TIMEOUT,
    CLOSE_NO_MEMBERSHIP,
    AlreadySubscribed,
    BadMessage,
    InvalidTopic,
    ReplayTooLong,
    SocketRefused,
)
from hm_core.realtime.feed import BATCH, Listener, db, hub
from hm_core.realtime.items import CatchUp, Item
from hm_core.realtime.visibility import Topic, confidential_wanted, parse_topic, push_wanted

MAX_TOPICS = 50


class EventsConsumer(AsyncWebsocketConsumer):
    # No channel per socket: the process's feed reads each tenant once for all its sockets.
    channel_layer_alias = "hm_realtime_sockets_use_the_feed"

    listener: Listener | None = None
    topics: frozenset[Topic] = frozenset()
    cursor = 0
    _authenticated: services.Session | None = None

    @property
    def session(self) -> services.Session | None:
        """Who holds the socket, with the viewer as the hub last re-read it."""
        if self._authenticated is None or self.listener is None:
            return None
        return dataclasses.replace(self._authenticated, viewer=self.listener.viewer)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # The socket's whole life, and the tasks it starts, begin with no tenant (PostgreSQL
        # RLS); `_db` enters the socket's tenant for each read once the membership is known.
        with rls.no_tenant():
            await super().__call__(scope, receive, send)

    def _db(self, fn: Any) -> Any:
        """`fn` off the event loop, inside the socket's tenant."""
        assert self.session is not None  # noqa: S101 - authenticated
        return db(_in_tenant(self.session.viewer.tenant_id, fn))

    async def connect(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []
        await self.accept()
        self._spawn(self._auth_deadline())

    async def disconnect(self, code: int) -> None:
        if self.listener is not None:
            hub().detach(self.listener)
            hub().unwatch(self.listener)
        for task in self._tasks:
            task.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = _decode(text_data)
        if self.session is None:
            await self._authenticate(message)
            return
        kind = message.get("type") if isinstance(message, dict) else None
        try:
            if kind == "subscribe":
                await self._subscribe(message)
            elif kind == "ping":
                await self._send({"type": "pong"})
            else:
                raise BadMessage()
        except HmError as error:
            await self._send(services.error_message(error))

    async def _authenticate(self, message: Any) -> None:
        try:
            session = await db(services.socket_authenticate)(message, context=self._context())
        except SocketRefused as refused:
            await self.close(code=refused.close_code)
            return
        self._authenticated = session
        self.listener = Listener(user_id=session.user_id, viewer=session.viewer)
        hub().watch(self.listener)
        self._spawn(self._close_when_revoked(self.listener))
        await self._send({"type": "ready"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        assert self.session is not None and self.listener is not None  # noqa: S101 - authenticated
        if self.topics:
            raise AlreadySubscribed()
        topics, after = _subscription(message)
        await self._db(services.topics_authorize)(session=self.session, topics=topics)
        self.listener.topics = frozenset(topics)
        await hub().attach(self.listener)  # queue live items before reading the head
        head = (await db(selectors.tenant_heads)([self.session.viewer.tenant_id]))[
            self.session.viewer.tenant_id
        ]
        if after is not None and head - after > settings.HM_REALTIME_MAX_REPLAY:
            hub().detach(self.listener)
            raise ReplayTooLong(details={"position": head})
        self.topics = frozenset(topics)
        self.cursor = head if after is None else min(after, head)
        await self._send(
            {"type": "subscribed", "topics": [str(t) for t in topics], "position": head}
        )
        await self._fill(head)
        self._spawn(self._pump(self.listener))

    async def _fill(self, upto: int) -> None:
        """Push the matching events of `(cursor, upto]`, read from the store."""
        if self.cursor >= upto:
            return
        assert self.session is not None  # noqa: S101 - authenticated
        while self.cursor < upto:
            items = await db(selectors.events_between)(
                tenant_id=self.session.viewer.tenant_id, after=self.cursor, upto=upto, limit=BATCH
            )
            if not items:
                self.cursor = upto
                break
            hidden = await self._hidden(items)
            for item in items:
                await self._push(item, hidden)

    async def _pump(self, listener: Listener) -> None:
        """Live ranges, in order, each position once: older than the cursor dropped, a gap
        read back; the items to send were chosen by the feed for this viewer and topics."""
        while True:
            for entry in await listener.take():
                if isinstance(entry, CatchUp):
                    await self._fill(entry.upto)
                    continue
                if entry.upto <= self.cursor:
                    continue
                await self._fill(entry.after)
                for item in entry.items:
                    if item.position > self.cursor:
                        await self.send(text_data=item.text)
                self.cursor = entry.upto

    async def _hidden(self, items: list[Item]) -> frozenset[uuid.UUID]:
        """The confidential patients of this batch the user may not read: one query per batch,
        only when the batch has events about confidential patients this socket would get."""
        assert self.session is not None  # noqa: S101 - authenticated
        viewer = self.session.viewer
        patients = confidential_wanted(
            viewer, self.topics, (item for item in items if item.position > self.cursor)
        )
        if not patients:
            return frozenset()
        return await self._db(services.patients_hidden)(session=self.session, patient_ids=patients)

    async def _push(self, item: Item, hidden: frozenset[uuid.UUID]) -> None:
        assert self.session is not None  # noqa: S101 - authenticated
        self.cursor = item.position
        if push_wanted(self.session.viewer, self.topics, item, hidden):
            await self.send(text_data=item.text)

    async def _close_when_revoked(self, listener: Listener) -> None:
        """The hub re-reads the membership (every HM_REALTIME_RECHECK_SECONDS, and at once
        when the tenant's IAM events pass): a revoked one closes the socket (4403)."""
        await listener.revoked.wait()
        await self.close(code=CLOSE_NO_MEMBERSHIP)

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(settings.HM_REALTIME_AUTH_TIMEOUT_SECONDS)
        if self.session is None:
            await self.close(code=CLOSE_AUTH_TIMEOUT)

    def _spawn(self, coroutine: Any) -> None:
        self._tasks.append(asyncio.ensure_future(coroutine))

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    def _context(self) -> RequestContext:
        headers = dict(self.scope.get("headers") or [])
        client = self.scope.get("client") or (None, None)
        agent = headers.get(b"user-agent", b"").decode("latin-1")[:300]
        return RequestContext(
            request_id=f"ws-{uuid.uuid4().hex}", ip=client[0], user_agent=agent or None
        )


def _in_tenant(tenant_id: uuid.UUID, fn: Any) -> Any:
    def entered(*args: Any, **kwargs: Any) -> Any:
        with rls.tenant(tenant_id):
            return fn(*args, **kwargs)

    return entered


def _decode(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _subscription(message: dict[str, Any]) -> tuple[list[Topic], int | None]:
    """Validate `topics` (1-50 known topics) and `after` (a position ≥ 0, optional)."""
    raw = message.get("topics")
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_TOPICS:
        raise InvalidTopic(details={"topics": raw if isinstance(raw, list) else None})
    topics = [parse_topic(value) for value in raw]
    bad = [value for value, topic in zip(raw, topics, strict=True) if topic is None]
    if bad:
        raise InvalidTopic(details={"topics": bad})
    after = message.get("after")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise BadMessage("`after` is a position: an integer, 0 or more.")
    return list(dict.fromkeys(t for t in topics if t is not None)), after
