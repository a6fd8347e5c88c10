"""`GET /api/health/`: is the process up, can it reach its database and its broker."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from hm_core.events.subscriptions import lag_by_subscription

router = Router(tags=["health"])
logger = logging.getLogger(__name__)


class HealthOut(Schema):
    status: str
    database: str
    broker: str
    subscriptions: dict[str, int] = Field(
        default_factory=dict, description="events each async subscription has still to process"
    )


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("health: database unreachable")
        return "down"
    return "ok"


def _broker() -> str:
    if not settings.REDIS_URL:
        return "not_configured"
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
    except Exception:
        logger.warning("health: broker unreachable", exc_info=True)
        return "down"
    return "ok"


@router.get("/", response={200: HealthOut, 503: HealthOut}, auth=None)
def health(request: HttpRequest) -> Status[HealthOut]:
    """Liveness with the database and broker status; 503 when the database is down."""
    database = _database()
    status = 200 if database == "ok" else 503
    lags = lag_by_subscription() if database == "ok" else {}
    result = HealthOut(
        status="ok" if status == 200 else "degraded",
        database=database,
        broker=_broker(),
        subscriptions=lags,
    )
    return Status(status, result)
