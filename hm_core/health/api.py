"""`GET /api/health/`: is the process up, can it reach its database and its broker."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from hm_core.common import rls
from hm_core.events.broker import workers_seen
from hm_core.events.reconciler import embedded_reconciler_running
from hm_core.events.subscriptions import lag_by_subscription
from hm_core.interop.selectors import outbound_backlog
from hm_core.webhooks.selectors import delivery_backlog

router = Router(tags=["health"])
logger = logging.getLogger(__name__)


class AsyncWorkOut(Schema):
    mode: str = Field(description="`workers` (dramatiq on REDIS_URL) or `embedded` (in-process)")
    workers_seen: int | None = Field(
        description="worker processes alive on the broker (0: nobody consumes); null if unknown"
    )
    reconciler: str = Field(
        description="embedded: `running` or `stopped` in this process; workers: `external`"
    )


class BacklogOut(Schema):
    pending: int
    overdue: int = Field(description="pending items due for over a minute: nobody sends")
    dead: int


class HealthOut(Schema):
    status: str
    database: str
    broker: str
    subscriptions: dict[str, int] = Field(
        default_factory=dict, description="events each async subscription has still to process"
    )
    async_work: AsyncWorkOut | None = None
    webhooks: BacklogOut | None = None
    hl7_outbound: BacklogOut | None = None


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("health: database unreachable")
        return "down"
    return "ok"


def _broker() -> tuple[str, AsyncWorkOut]:
    if not settings.REDIS_URL:
        running = "running" if embedded_reconciler_running() else "stopped"
        return "not_configured", AsyncWorkOut(
            mode="embedded", workers_seen=None, reconciler=running
        )
    work = AsyncWorkOut(mode="workers", workers_seen=None, reconciler="external")
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
        work.workers_seen = workers_seen(client)
    except Exception:
        logger.warning("health: broker unreachable", exc_info=True)
        return "down", work
    return "ok", work


@router.get("/", response={200: HealthOut, 503: HealthOut}, auth=None)
def health(request: HttpRequest) -> Status[HealthOut]:
    """Liveness with the database and broker status; 503 when the database is down."""
    with rls.system("health: totals over every tenant, no data"):
        return _health()


def _health() -> Status[HealthOut]:
    database = _database()
    status = 200 if database == "ok" else 503
    lags = lag_by_subscription() if database == "ok" else {}
    broker, async_work = _broker()
    result = HealthOut(
        status="ok" if status == 200 else "degraded",
        database=database,
        broker=broker,
        subscriptions=lags,
        async_work=async_work,
        webhooks=BacklogOut(**delivery_backlog()) if database == "ok" else None,
        hl7_outbound=BacklogOut(**outbound_backlog()) if database == "ok" else None,
    )
    return Status(status, result)
