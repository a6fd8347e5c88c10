"""Webhooks survive their infrastructure, proved with real components: a dramatiq worker in a
subprocess, a private redis-server, PostgreSQL and a loopback HTTP receiver.

The worker is SIGKILLed mid-stream and Redis freezes, then goes away, while clinicians keep
appending events; once both are back the reconciler catches up: every event delivered, each
webhook received once in effect (by delivery id), the checkpoints at the tenant's head.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dramatiq
import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from hm_core.common.time import utcnow
from hm_core.events import actors as event_actors
from hm_core.events import subscriptions
from hm_core.events.broker import configure_broker
from hm_core.events.models import Event, SubscriptionCheckpoint, TenantEventHead
from hm_core.patients.services import patient_register
from hm_core.webhooks import actors as webhook_actors
from hm_core.webhooks.delivery import deliver
from hm_core.webhooks.models import WebhookDelivery
from hm_core.webhooks.services import endpoint_register
from management.management.commands.run_reconciler import reconcile

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

REPO = Path(django_settings.BASE_DIR)
DRAMATIQ = Path(sys.executable).with_name("dramatiq")  # the venv running pytest
SECRET = "s3cret-for-tests-0123456789"


def wait_for(
    condition: Callable[[], bool],
    *,
    seconds: float,
    what: str,
    diagnostics: Callable[[], str] = str,
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}\n{diagnostics()}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"--- {path.name} ---\n" + "\n".join(text.splitlines()[-lines:])


def head_of(tenant_id: Any) -> int:
    head = TenantEventHead.objects.filter(tenant_id=tenant_id).first()
    return head.position if head else 0


class RedisServer:
    """A redis-server of our own on a free port: no persistence, never the machine's 6379."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: it is part of the machine (apt redis-server)"
            )
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary
                command, stdout=log, stderr=subprocess.STDOUT
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)

        def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, tail(self.log)
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_for(answers, seconds=10, what=f"redis-server on port {self.port}")
        finally:
            client.close()

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung broker)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class Workers:
    """`dramatiq hm_core.worker` subprocesses on the test database, one at a time, each in its
    own process group so that killing it takes its worker processes along."""

    def __init__(self, directory: Path, redis_url: str) -> None:
        db = connection.settings_dict  # NAME is the test database: test_<name>[_gwN]
        user = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        host = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",  # no webhook backoff
            "DATABASE_URL": f"postgres://{user}@{host}/{quote(db['NAME'])}",
            "REDIS_URL": redis_url,
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the loopback receiver
            "DB_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
        }
        self.directory = directory
        self.logs: list[Path] = []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, "one worker at a time"
        self.logs.append(self.directory / f"worker-{len(self.logs) + 1}.log")
        command = [str(DRAMATIQ), "hm_core.worker", "--processes", "1", "--threads", "2"]
        command += ["--queues", "hm_subscriptions", "hm_webhooks"]
        with self.logs[-1].open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own binaries
                command,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown, no ack, transactions cut off mid-flight."""
        self._signal_group(signal.SIGKILL, wait=10)

    def stop(self) -> None:
        try:
            self._signal_group(signal.SIGTERM, wait=20)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL, wait=10)

    def _signal_group(self, sig: signal.Signals, *, wait: float) -> None:
        if self.process is None:
            return
        for _ in range(2):  # again once the main process is gone: worker processes exiting
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            self.process.wait(timeout=wait)
            if sig is not signal.SIGKILL:
                break
        self.process = None

    def diagnostics(self) -> str:
        return "\n".join(tail(log) for log in self.logs)


class Receiver:
    """A loopback HTTP receiver answering 200 after `delay`. It records every request when it
    arrives, so a request whose sender died before the answer still counts as received."""

    def __init__(self, delay: float) -> None:
        self.hits: list[tuple[str, str]] = []  # (X-HM-Delivery, event id of the body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.hits.append((self.headers["X-HM-Delivery"], body["event"]["id"]))
                time.sleep(delay)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[[float], Receiver]]:
    created: list[Receiver] = []

    def make(delay: float) -> Receiver:
        created.append(Receiver(delay))
        return created[-1]

    yield make
    for r in created:
        r.close()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """Logs and Redis' working directory, removed afterwards (failures quote the logs)."""
    with tempfile.TemporaryDirectory(prefix="hm-resilience-") as directory:
        yield Path(directory)


@pytest.fixture
def private_redis(scratch: Path) -> Iterator[RedisServer]:
    server = RedisServer(scratch)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_broker(
    settings: Any, private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dramatiq.Broker]:
    """This process on the private Redis: `configure_broker()` again, and the actors (bound to
    the stub broker when they were declared) moved onto the new one; both undone afterwards."""
    original = dramatiq.get_broker()
    settings.REDIS_URL = private_redis.url
    broker = configure_broker()
    for actor in (event_actors.drain_tenant, webhook_actors.deliver_webhook):
        broker.declare_actor(actor)
        monkeypatch.setattr(actor, "broker", broker)
    try:
        yield broker
    finally:
        broker.close()
        dramatiq.set_broker(original)


@pytest.fixture
def workers(db: Any, scratch: Path, private_redis: RedisServer) -> Iterator[Workers]:
    started = Workers(scratch, private_redis.url)
    try:
        yield started
    finally:
        started.stop()  # before the test database is flushed


class Clinic:
    """Registers patients (one `patient.registered` event each), timing every command."""

    def __init__(self, world: Any) -> None:
        self.world, self.count = world, 0

    def register_patients(self, n: int) -> list[float]:
        durations = []
        for _ in range(n):
            self.count += 1
            started = time.monotonic()
            patient_register(
                scope=self.world.scope("nurse"),
                demographics={
                    "full_name": f"Patient {self.count}",
                    "mrn": f"RES-{self.count}",
                    "date_of_birth": date(1980, 5, 17),
                    "gender": "O",
                    "phone": "",
                    "email": "",
                    "address": "",
                },
            )
            durations.append(time.monotonic() - started)
        return durations


def reconcile_until(
    done: Callable[[], bool], *, interval: float, seconds: float, diagnostics: Callable[[], str]
) -> int:
    """Run reconciler passes (what `manage.py run_reconciler` loops on) every `interval` until
    `done()`; returns how many passes it took."""
    deadline, passes = time.monotonic() + seconds, 0
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not caught up after {seconds} s, {passes} passes\n{diagnostics()}")
        reconcile()
        passes += 1
        next_pass = time.monotonic() + interval
        while time.monotonic() < next_pass and not done():
            time.sleep(0.05)
    return passes


def test_worker_killed_and_redis_down_mid_stream_every_event_is_delivered_once_in_effect(
    world, private_redis, redis_broker, workers, receiver, caplog
):
    # given a tenant caught up, an endpoint for every event, and a worker on the private Redis
    tenant_id = world.tenant.id
    rx = receiver(0.05)  # slow enough for the worker to be killed mid-POST
    endpoint, _ = endpoint_register(
        scope=world.scope("admin"), url=rx.url, event_types=[], secret=SECRET, description="ops"
    )
    subscriptions.drain(tenant_id)
    first_position = head_of(tenant_id) + 1  # the registration is an event, not delivered
    clinic = Clinic(world)
    started = time.monotonic()
    workers.start()

    # when the worker is SIGKILLed while it is delivering
    clinic.register_patients(20)
    wait_for(
        lambda: len(rx.hits) >= 3,
        seconds=30,
        what="the first deliveries",
        diagnostics=workers.diagnostics,
    )
    workers.kill()
    delivered_at_kill = WebhookDelivery.objects.filter(status="DELIVERED").count()
    # and events keep coming: with no worker, then with Redis frozen, then with Redis gone
    clinic.register_patients(5)
    caplog.clear()
    private_redis.freeze()
    frozen = clinic.register_patients(2)
    private_redis.stop()
    down = clinic.register_patients(5)
    unreachable = [r for r in caplog.records if "broker unreachable" in r.getMessage()]
    # and both come back, Redis empty: every wake-up it held is lost
    outage_over = time.monotonic()
    private_redis.start()
    workers.start()
    clinic.register_patients(3)
    head = head_of(tenant_id)
    expected = {
        str(event_id)
        for event_id in Event.objects.filter(
            tenant_id=tenant_id, position__gte=first_position
        ).values_list("id", flat=True)
    }

    def caught_up() -> bool:
        delivered = WebhookDelivery.objects.filter(tenant_id=tenant_id, status="DELIVERED")
        return not subscriptions.lagging() and delivered.count() >= len(expected)

    passes = reconcile_until(caught_up, interval=0.5, seconds=60, diagnostics=workers.diagnostics)
    finished = time.monotonic()

    # then the outage never reached the clinicians: every command committed, promptly
    assert clinic.count == len(expected) == 35
    assert all(d < 4 for d in frozen), f"a frozen Redis stalled commands: {frozen}"
    assert all(d < 1 for d in down), f"a stopped Redis slowed commands: {down}"
    assert len(unreachable) == len(frozen) + len(down)
    assert {r.levelno for r in unreachable} == {logging.WARNING}
    # and the worker really was killed mid-stream
    assert delivered_at_kill < 20
    # and every event has exactly one delivery, delivered
    deliveries = {str(d.id): d for d in WebhookDelivery.objects.filter(tenant_id=tenant_id)}
    assert sorted(str(d.event_id) for d in deliveries.values()) == sorted(expected)
    assert {d.endpoint_id for d in deliveries.values()} == {endpoint.id}
    assert {d.status for d in deliveries.values()} == {"DELIVERED"}
    # and the receiver got every one; a request repeated on the wire carries the same delivery
    # id and event, so a receiver dropping duplicates by delivery id applies each event once
    assert {delivery_id for delivery_id, _ in rx.hits} == set(deliveries)
    assert {(i, str(deliveries[i].event_id)) for i, _ in rx.hits} == set(rx.hits)
    # and every checkpoint is at the head, which health reports as no lag
    checkpoint = SubscriptionCheckpoint.objects.get(name="webhooks", tenant_id=tenant_id)
    assert checkpoint.position == head == first_position + 34
    assert set(subscriptions.lag_by_subscription().values()) == {0}
    health = Client().get("/api/health/").json()
    assert health["broker"] == "ok" and set(health["subscriptions"].values()) == {0}
    print(
        f"\n{len(rx.hits)} requests for {len(deliveries)} deliveries, {delivered_at_kill} "
        f"delivered before the kill; caught up {finished - outage_over:.1f} s after the outage "
        f"({passes} reconciler passes), {finished - started:.1f} s in all; commands took "
        f"{max(frozen):.2f} s at most with Redis frozen, {max(down):.3f} s with it down"
    )


def test_deliveries_to_one_endpoint_in_flight_together_are_all_sent(world, receiver):
    # given two due deliveries to one slow endpoint
    tenant_id = world.tenant.id
    Clinic(world).register_patients(2)
    rx = receiver(0.5)
    endpoint, _ = endpoint_register(
        scope=world.scope("admin"), url=rx.url, event_types=[], secret=SECRET, description="slow"
    )
    deliveries = [
        WebhookDelivery.objects.create(
            tenant_id=tenant_id,
            endpoint=endpoint,
            event_id=event.id,
            event_type=event.type,
            position=event.position,
            next_attempt_at=utcnow(),
        )
        for event in Event.objects.filter(tenant_id=tenant_id).order_by("position")
    ]
    barrier, results = threading.Barrier(len(deliveries)), {}

    def send(delivery: WebhookDelivery) -> None:
        try:
            barrier.wait(timeout=10)
            results[str(delivery.id)] = deliver(delivery.id)
        finally:
            connection.close()

    # when two workers send them at the same time
    threads = [threading.Thread(target=send, args=(d,)) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    # then neither skipped its delivery because the other one locked the endpoint
    assert results == {str(d.id): "DELIVERED" for d in deliveries}
    assert sorted(i for i, _ in rx.hits) == sorted(results)
