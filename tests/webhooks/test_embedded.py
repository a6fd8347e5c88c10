"""Embedded mode (no broker): the server process itself catches up on webhook deliveries that a
dead process stranded or whose retry is due, and /api/health/ shows the backlog and workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings

from hm_core.common.time import utcnow
from hm_core.events import reconciler
from hm_core.events.broker import HEARTBEAT_PREFIX
from hm_core.webhooks.models import WebhookDelivery
from tests.webhooks.test_webhooks import (
    drain_and_deliveries,
    register,
    register_patient,
)


def _stranded(world, url: str, *, minutes_ago: int = 5) -> WebhookDelivery:
    """A delivery whose sending thread died with its process: PENDING, due long ago."""
    register(world, url, ["patient.*"])
    register_patient(world)
    [delivery] = drain_and_deliveries(world)
    WebhookDelivery.objects.filter(id=delivery.id).update(
        next_attempt_at=utcnow() - timedelta(minutes=minutes_ago)
    )
    return delivery


def test_an_embedded_pass_sends_deliveries_a_dead_process_left_pending(world, receiver):
    # given
    rx = receiver()
    delivery = _stranded(world, rx.url)

    # when
    _, resent = reconciler.reconcile(grace=reconciler.EMBEDDED_GRACE)

    # then
    delivery.refresh_from_db()
    assert resent == 1 and delivery.status == "DELIVERED"
    assert len(rx.requests) == 1


def test_an_embedded_pass_retries_a_failed_delivery_once_due(world, receiver):
    # given: the first attempt failed; its retry is due
    rx = receiver(failures=1)
    delivery = _stranded(world, rx.url)
    reconciler.reconcile(grace=reconciler.EMBEDDED_GRACE)
    WebhookDelivery.objects.filter(id=delivery.id).update(
        next_attempt_at=utcnow() - timedelta(minutes=5)
    )

    # when
    reconciler.reconcile(grace=reconciler.EMBEDDED_GRACE)

    # then
    delivery.refresh_from_db()
    assert delivery.status == "DELIVERED" and delivery.attempts == 2


def test_an_embedded_pass_leaves_fresh_deliveries_to_the_requests_own_thread(world, receiver):
    rx = receiver()
    delivery = _stranded(world, rx.url, minutes_ago=0)

    _, resent = reconciler.reconcile(grace=reconciler.EMBEDDED_GRACE)

    assert resent == 0 and rx.requests == []
    delivery.refresh_from_db()
    assert delivery.status == "PENDING"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_embedded_reconciler_thread_delivers_without_a_worker(world, receiver, settings):
    # given
    settings.REDIS_URL = ""
    settings.HM_EMBEDDED_RECONCILER = True
    settings.HM_EMBEDDED_RECONCILER_SECONDS = 0.1
    rx = receiver()
    delivery = _stranded(world, rx.url)

    # when
    try:
        assert reconciler.start_embedded_reconciler()
        assert not reconciler.start_embedded_reconciler()  # once per process
        deadline = time.monotonic() + 20
        while rx.requests == [] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reconciler.stop_embedded_reconciler()

    # then
    delivery.refresh_from_db()
    assert delivery.status == "DELIVERED"


def test_the_reconciler_thread_is_off_with_a_broker_or_when_turned_off(settings):
    settings.HM_EMBEDDED_RECONCILER = True
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    assert not reconciler.start_embedded_reconciler()

    settings.REDIS_URL = ""
    settings.HM_EMBEDDED_RECONCILER = False
    assert not reconciler.start_embedded_reconciler()


def _threads_after(code: str, tmp_path) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "SQLITE_PATH": str(tmp_path / "embedded.sqlite3"),
    }
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code + "\nimport threading; print(threading.enumerate())"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_only_a_serving_process_starts_the_reconciler(tmp_path):
    # the WSGI entry point is what runserver and gunicorn load; management commands do not
    assert "hm-reconciler" in _threads_after("import config.wsgi", tmp_path)
    assert "hm-reconciler" not in _threads_after("import django; django.setup()", tmp_path)


def test_health_shows_the_webhook_backlog_and_the_embedded_mode(world, receiver, client):
    # given
    _stranded(world, receiver().url)

    # when
    body = client.get("/api/health/").json()

    # then: the contract's keys, and the detail
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["broker"] == "not_configured"
    assert body["async_work"] == {"mode": "embedded", "workers_seen": None, "reconciler": "stopped"}
    assert body["webhooks"] == {"pending": 1, "overdue": 1, "dead": 0}


def test_health_shows_a_broker_without_workers(db, client, settings):
    # given: a reachable Redis (a scratch database of the machine's server)
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    server = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
    try:
        server.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    key = f"{HEARTBEAT_PREFIX}test-{uuid.uuid4()}"
    before = client.get("/api/health/").json()["async_work"]["workers_seen"]

    # when: one worker process beats
    server.set(key, "1", ex=30)
    try:
        after = client.get("/api/health/").json()
    finally:
        server.delete(key)

    # then
    assert after["broker"] == "ok" and after["async_work"]["mode"] == "workers"
    assert after["async_work"]["workers_seen"] == before + 1
