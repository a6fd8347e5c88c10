"""The write side of the fan-out: after a commit, tell every ASGI process that a tenant moved.

The announcement carries the tenant only, never an event: each server process then reads the
new events from the store itself, once for all its sockets (positions are gapless and commit
in order, so "after my cursor" misses nothing). Its cost on the write path is one message per
transaction, whatever the number of events or sockets:

* `REDIS_URL` set: a PUBLISH on the tenant's channels-redis group (the pub/sub layer), sent
  with the broker's millisecond timeouts: a hung Redis never holds up a committed command;
* PostgreSQL without Redis: `pg_notify` after the commit (never inside the append transaction,
  where NOTIFY serialises every tenant's commits, STYLE.md §3);
* SQLite: nothing; the servers poll the heads of the tenants they serve (`HM_REALTIME_POLL_MS`).

A lost announcement only delays a push until the servers' next poll.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "hm_realtime"
Mode = Literal["redis", "notify", "poll"]
_clients: dict[str, redis.Redis] = {}


def mode() -> Mode:
    """How commits reach the servers: Redis if configured, else the database's own way."""
    if settings.REDIS_URL:
        return "redis"
    return "notify" if connection.vendor == "postgresql" else "poll"


def group_name(tenant_id: uuid.UUID) -> str:
    """The channels group of a tenant's announcements."""
    return f"hm_rt.{tenant_id.hex}"


def announcement(tenant_id: uuid.UUID) -> dict[str, Any]:
    return {"type": "tenant.advanced", "tenant": tenant_id.hex}


def announce(tenant_id: uuid.UUID) -> None:
    """After a commit that appended events for `tenant_id`: one cheap message, never raises."""
    try:
        current = mode()
        if current == "redis":
            _publish_redis(tenant_id)
        elif current == "notify" and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, tenant_id.hex])
    except Exception:
        logger.warning("realtime: announcement for tenant %s lost; servers poll", tenant_id)


def _publish_redis(tenant_id: uuid.UUID) -> None:
    """`group_send` of the pub/sub layer, from sync code without an event loop: the same
    PUBLISH on the group's Redis channel, in the layer's own serialisation (a test pins that a
    consumer joined through the layer receives it)."""
    layer: Any = get_channel_layer()
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi")
    channel = f"{prefix}__group__{group_name(tenant_id)}"
    _client().publish(channel, layer.serialize(announcement(tenant_id)))


def _client() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        timeout = settings.HM_BROKER_SEND_TIMEOUT_MS / 1000
        _clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
    return _clients[url]
