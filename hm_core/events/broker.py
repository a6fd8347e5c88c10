"""The wake-up channel's transport: dramatiq on Redis, or a stub without it.

The lowest layer of async work: `actors` declares its actors on this broker's queue, and
`wakeups` decides, after a commit, whether to drain in-process or to send a message here.

Redis only says "tenant T has new events"; the events themselves are read from PostgreSQL. If
Redis is down or hung the send fails within `HM_BROKER_SEND_TIMEOUT_MS`, is logged, and the
reconciler catches up later: sends on the request path use their own client with millisecond
timeouts, so a frozen Redis never holds up a committed command's response.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import dramatiq
import redis
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

logger = logging.getLogger(__name__)

QUEUE = "hm_subscriptions"
DRAIN_TENANT = "drain_tenant"  # the actor (hm_core.events.actors) draining a tenant's subscriptions
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


def send(queue: str, actor_name: str, *args: Any) -> None:
    """Enqueue a message for the actor named `actor_name` through `sender()`; raises if Redis
    does not answer. By name, as dramatiq's messages travel: senders need not import actors."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    sender().enqueue(message)
