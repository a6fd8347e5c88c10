"""The wake-up channel of async subscriptions: dramatiq on Redis, or in-process without it.

Redis only says "tenant T has new events"; the events themselves are read from PostgreSQL. If
Redis is down the send fails fast, is logged, and the reconciler catches up later.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq
import redis
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

logger = logging.getLogger(__name__)

QUEUE = "hm_subscriptions"


def configure_broker() -> dramatiq.Broker:
    """Redis when `REDIS_URL` is set; otherwise a stub that keeps actor declarations valid."""
    broker: dramatiq.Broker
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
        actors.drain_tenant.send(str(tenant_id))
    except Exception:  # the reconciler will notice the lag and wake the workers later
        logger.warning("broker unreachable; tenant %s will be drained by the reconciler", tenant_id)
