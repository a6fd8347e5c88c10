"""The wake-up channel of async subscriptions: dramatiq on Redis, or in-process without it.

Redis only says "tenant T has new events"; the events themselves are read from PostgreSQL. If
Redis is down or hung the send fails within `HM_BROKER_SEND_TIMEOUT_MS`, is logged, and the
reconciler catches up later: sends on the request path use their own client with millisecond
timeouts, so a frozen Redis never holds up a committed command's response.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import redis
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

logger = logging.getLogger(__name__)

QUEUE = "hm_subscriptions"
# Worker processes renew `<prefix><host>:<pid>` every HEARTBEAT_EVERY seconds; it expires after
# HEARTBEAT_TTL, so /api/health/ can tell a broker that has workers from one that has none.
HEARTBEAT_PREFIX = "hm_core:workers:"
HEARTBEAT_EVERY, HEARTBEAT_TTL = 10, 30
_senders: dict[str, RedisBroker] = {}


def configure_broker() -> dramatiq.Broker:
    """Redis when `REDIS_URL` is set; otherwise a stub that keeps actor declarations valid."""
    broker: dramatiq.Broker
    _senders.clear()
    if settings.REDIS_URL:
        # The client is built here: given `url=`, dramatiq makes its own connection pool and
        # redis-py then ignores these timeouts (its 5 s defaults would stall every request).
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30
        )
        broker = RedisBroker(client=client)
        broker.add_middleware(WorkerHeartbeat())
    else:
        broker = StubBroker()
    dramatiq.set_broker(broker)
    return broker


class WorkerHeartbeat(dramatiq.Middleware):
    """Each dramatiq worker process says, in Redis, that it is alive (web processes never boot
    a worker, so they never count)."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        key = f"{HEARTBEAT_PREFIX}{socket.gethostname()}:{os.getpid()}"
        client = broker.client  # type: ignore[attr-defined]
        threading.Thread(target=_beat, args=(client, key), daemon=True).start()


def _beat(client: redis.Redis, key: str) -> None:
    while True:
        try:
            client.set(key, "1", ex=HEARTBEAT_TTL)
        except redis.RedisError:
            logger.warning("worker heartbeat: broker unreachable")
        time.sleep(HEARTBEAT_EVERY)


def workers_seen(client: redis.Redis) -> int:
    """Worker processes that sent a heartbeat within HEARTBEAT_TTL."""
    return sum(1 for _ in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=100))


def uses_workers() -> bool:
    return bool(settings.REDIS_URL)


def sender() -> RedisBroker:
    """The broker that enqueues on the request path: its own connections, whose connect and
    read timeouts are `HM_BROKER_SEND_TIMEOUT_MS` (workers keep the patient client above)."""
    url = settings.REDIS_URL
    if url not in _senders:
        timeout = settings.HM_BROKER_SEND_TIMEOUT_MS / 1000
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        _senders[url] = RedisBroker(client=client, middleware=[])
    return _senders[url]


def send(actor: dramatiq.Actor[..., Any], *args: Any) -> None:
    """Enqueue a message for `actor` through `sender()`; raises if Redis does not answer."""
    sender().enqueue(actor.message(*args))


_deferred: contextvars.ContextVar[set[uuid.UUID] | None] = contextvars.ContextVar(
    "hm_deferred_wakes", default=None
)


@contextlib.contextmanager
def deferred_wakes() -> Iterator[set[uuid.UUID]]:
    """Collect the in-process drains of the block instead of running them, for a caller that
    answers first and drains afterwards (the MLLP listener: the ACK only needs the commit).
    With workers a wake is a message to Redis and is sent at once as usual."""
    tenants: set[uuid.UUID] = set()
    token = _deferred.set(tenants)
    try:
        yield tenants
    finally:
        _deferred.reset(token)


def drain_now(tenants: set[uuid.UUID]) -> None:
    """Run the drains `deferred_wakes` collected (in whatever thread the caller chooses)."""
    for tenant_id in sorted(tenants):
        wake(tenant_id)


def wake(tenant_id: uuid.UUID) -> None:
    """After a commit: have the tenant's async subscriptions process their new events."""
    from hm_core.events import actors, subscriptions

    if not subscriptions.async_subscriptions():
        return
    deferred = _deferred.get()
    if deferred is not None and not uses_workers():
        deferred.add(tenant_id)
        return
    if not uses_workers():
        # In-process, inside somebody's request: one batch per subscription, never a backlog.
        subscriptions.drain(tenant_id, max_batches=1)
        return
    try:
        send(actors.drain_tenant, str(tenant_id))
    except Exception:  # the reconciler will notice the lag and wake the workers later
        logger.warning("broker unreachable; tenant %s will be drained by the reconciler", tenant_id)
