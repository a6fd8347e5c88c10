"""The wake-up channel of async subscriptions: dramatiq on Redis, or in-process without it.

Redis only says "tenant T has new events"; the events themselves are read from PostgreSQL. If
Redis is down or hung the send fails within `HM_BROKER_SEND_TIMEOUT_MS`, is logged, and the
reconciler catches up later: sends on the request path use their own client with millisecond
timeouts, so a frozen Redis never holds up a committed command's response.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import dramatiq
import redis
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

logger = logging.getLogger(__name__)

QUEUE = "hm_subscriptions"
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
    else:
        broker = StubBroker()
    dramatiq.set_broker(broker)
    return broker


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


def wake(tenant_id: uuid.UUID) -> None:
    """After a commit: have the tenant's async subscriptions process their new events."""
    from hm_core.events import actors, subscriptions

    if not subscriptions.async_subscriptions():
        return
    if not uses_workers():
        # In-process, inside somebody's request: one batch per subscription, never a backlog.
        subscriptions.drain(tenant_id, max_batches=1)
        return
    try:
        send(actors.drain_tenant, str(tenant_id))
    except Exception:  # the reconciler will notice the lag and wake the workers later
        logger.warning("broker unreachable; tenant %s will be drained by the reconciler", tenant_id)
