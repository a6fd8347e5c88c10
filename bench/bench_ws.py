"""Benchmark: 200 open `/ws/events/` sockets receiving a stream of check-ins (issue 15, §19).

`make serve` (gunicorn with one uvicorn worker, production settings, no REDIS_URL: PostgreSQL
NOTIFY after commit) on a scratch database of this process's own (`<BENCH_DB>_ws_<pid>`,
created, migrated and dropped here). 200 sockets of the demo nurse subscribe to `tasks`; this
bench's second process checks patients in through the services at a steady rate (the sockets'
process shares no GIL with it), each check-in one transaction whose commit it stamps (an
on-commit hook registered before the command's own), and
every socket must receive every `task.created` it causes. Reported: commit-to-push latency over
all (socket, event) pairs, p50/p99 (goal p99 < 250 ms), and the worker's resident memory per
open socket (RSS with 200 sockets minus RSS with 1, over 199). `BENCH_WS_USERS=N` spreads the
sockets over N nurses (the demo nurse and N - 1 more, made through the IAM services): the
server then re-reads N memberships and decides pushes for N viewers instead of one.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.bench_http import free_port, stop_server
from bench.bench_mllp import database_create, database_drop, server_env
from bench.common import BENCH_DB, REPO, django_setup, load_average, ms, percentile, say, scale

SOCKETS = 200
CHECK_INS = {"small": 40, "full": 300}
RATE = 10.0  # check-ins per second (each one task.created to every socket)
SERVER_APP = "hm_bench_ws"


@dataclass
class Inbox:
    """When each socket saw each position (perf_counter, this process's clock)."""

    seen: dict[int, list[float]] = field(default_factory=dict)

    def add(self, position: int, at: float) -> None:
        self.seen.setdefault(position, []).append(at)


def world(users: int) -> tuple[Any, list[dict[str, str]]]:
    """The `ws` demo tenant: the nurse's scope (to write) and the auth messages of `users`
    nurses (to listen): the demo nurse, and `users - 1` more made by the tenant's admin."""
    from ninja_jwt.tokens import AccessToken

    from bench.world import scope_for, tenants_ensure
    from hm_core.iam.lifecycle import membership_add, user_create
    from hm_core.iam.models import User

    info = tenants_ensure(["ws"])["ws"]
    nurses = [User.objects.get(username="nurse@ws")]
    admin = scope_for(info, "admin", request_id="bench-ws")
    for i in range(1, users):
        nurse = user_create(
            scope=admin, username=f"nurse{i}@ws", full_name=f"Nurse {i}", email=f"n{i}@ws.test"
        )
        membership_add(scope=admin, user_id=nurse.id, facility_id=info.facility_id, roles=["nurse"])
        nurses.append(nurse)
    auths = [
        {
            "type": "auth",
            "token": str(AccessToken.for_user(nurse)),  # type: ignore[arg-type]
            "tenant_id": str(info.tenant_id),
            "facility_id": str(info.facility_id),
        }
        for nurse in nurses
    ]
    return scope_for(info, "nurse", request_id="bench-ws"), auths


def scheduled_encounters(scope: Any, count: int) -> list[uuid.UUID]:
    """Visits ready to be checked in (made before measuring)."""
    from bench.world import SCHEDULED_AT, new_mrn, patient_register
    from hm_core.encounters import services

    ids = []
    for _ in range(count):
        patient_id = patient_register(scope, mrn=new_mrn("WS"), full_name="Ada Lovelace")
        encounter = services.encounter_create(
            scope=scope, patient_id=patient_id, reason="Cough", scheduled_at=SCHEDULED_AT
        )
        ids.append(encounter.id)
    return ids


def check_in_stream(db: str, encounters: list[str], stamps: Any) -> None:
    """In its own process (the sockets' process must not share a GIL with the commands):
    check each visit in at RATE per second; stamp each commit with its task's position.
    `time.perf_counter` is CLOCK_MONOTONIC, one clock for every process of the machine."""
    django_setup(db)
    from django.db import connection, transaction

    from bench.world import scope_for, tenant_info
    from hm_core.encounters.services import encounter_check_in
    from hm_core.events.models import Event

    scope = scope_for(tenant_info("ws"), "nurse", request_id="bench-ws")
    began = time.perf_counter()
    try:
        for i, raw_id in enumerate(encounters):
            time.sleep(max(0.0, i / RATE - (time.perf_counter() - began)))
            committed: list[float] = []
            with transaction.atomic():
                transaction.on_commit(partial(_stamp, committed))
                encounter_check_in(scope=scope, encounter_id=uuid.UUID(raw_id))
            position = (
                Event.objects.filter(
                    tenant_id=scope.tenant_id, type="task.created", payload__encounter_id=raw_id
                )
                .values_list("position", flat=True)
                .get()
            )
            stamps[position] = committed[0]
    finally:
        connection.close()


def _stamp(into: list[float]) -> None:
    into.append(time.perf_counter())


async def open_sockets(port: int, auths: list[dict[str, str]], count: int) -> list[Any]:
    from websockets.asyncio.client import connect

    sockets = []
    for i in range(count):
        ws = await connect(f"ws://127.0.0.1:{port}/ws/events/", open_timeout=30, max_queue=None)
        await ws.send(json.dumps(auths[i % len(auths)]))
        assert json.loads(await ws.recv()) == {"type": "ready"}
        await ws.send(json.dumps({"type": "subscribe", "topics": ["tasks"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        sockets.append(ws)
    return sockets


async def listen(ws: Any, inbox: Inbox) -> None:
    async for raw in ws:
        at = time.perf_counter()
        message = json.loads(raw)
        if message.get("type") == "event":
            inbox.add(message["position"], at)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pid(log: Path) -> int:
    for line in log.read_text(errors="replace").splitlines():
        if "Booting worker with pid" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise RuntimeError(f"no gunicorn worker in {log}")


def start_server(db: str, port: int, log: Path) -> Any:
    import subprocess
    import urllib.request

    env = server_env(db, SERVER_APP)
    env.pop("DJANGO_SETTINGS_MODULE")
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603
            # `make bench` installed the requirements already (-o: never reinstall from here).
            ["make", "--no-print-directory", "-o", ".venv/.installed", "serve",  # noqa: S607
             "HOST=127.0.0.1", f"PORT={port}", "WEB_CONCURRENCY=1"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    stop_server(server)
    raise RuntimeError(f"make serve did not answer on :{port}; see {log}")


async def measure(
    port: int, auths: list[dict[str, str]], pid: int, db: str, encounters: list[uuid.UUID]
) -> tuple[Inbox, dict[int, float], int, int]:
    inbox = Inbox()
    first = await open_sockets(port, auths, 1)
    await asyncio.sleep(1)
    rss_one = rss_kib(pid)
    rest = await open_sockets(port, auths[1:] + auths[:1], SOCKETS - 1)
    sockets = first + rest
    await asyncio.sleep(1)
    rss_all = rss_kib(pid)
    listeners = [asyncio.ensure_future(listen(ws, inbox)) for ws in sockets]
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        shared = manager.dict()
        writer = context.Process(
            target=check_in_stream, args=(db, [str(e) for e in encounters], shared)
        )
        writer.start()
        while writer.is_alive():
            await asyncio.sleep(0.1)
        if writer.exitcode != 0:
            raise RuntimeError(f"the check-in process failed with {writer.exitcode}")
        stamps: dict[int, float] = dict(shared)
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(
        len(inbox.seen.get(p, [])) < SOCKETS for p in stamps
    ):
        await asyncio.sleep(0.1)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return inbox, stamps, rss_one, rss_all


def _unwind(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _unwind)
    count = int(os.environ.get("BENCH_WS_CHECK_INS", CHECK_INS[scale().name]))
    users = max(1, min(SOCKETS, int(os.environ.get("BENCH_WS_USERS", "1"))))
    db = f"{BENCH_DB}_ws_{os.getpid()}"
    say(
        f"== ws: {SOCKETS} sockets of {users} user(s) on make serve, "
        f"{count} check-ins at {RATE:.0f}/s"
    )
    logdir = Path(tempfile.mkdtemp(prefix="hm_bench_ws_"))
    database_create(db)
    try:
        django_setup(db)
        from django.db import connection

        scope, auths = world(users)
        encounters = scheduled_encounters(scope, count)
        connection.close()
        port = free_port()
        server = start_server(db, port, logdir / "serve.log")
        try:
            pid = worker_pid(logdir / "serve.log")
            inbox, stamps, rss_one, rss_all = asyncio.run(measure(port, auths, pid, db, encounters))
        finally:
            stop_server(server)
    finally:
        from django.db import connection

        connection.close()
        database_drop(db)
    shutil.rmtree(logdir, ignore_errors=True)
    report(inbox, stamps, rss_one, rss_all, users=users)


def report(
    inbox: Inbox, stamps: dict[int, float], rss_one: int, rss_all: int, *, users: int = 1
) -> None:
    latencies = [at - stamps[p] for p in stamps for at in inbox.seen.get(p, [])]
    expected = len(stamps) * SOCKETS
    missing = expected - len(latencies)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    per_socket = (rss_all - rss_one) / (SOCKETS - 1)
    say(f"pushes: {len(latencies)} of {expected} (socket, task.created) pairs, {missing} missing")
    say(f"worker RSS: {rss_one} KiB with 1 socket, {rss_all} KiB with {SOCKETS}")
    goal = "met" if p99 < 0.25 and missing == 0 else "NOT MET"
    of_users = "" if users == 1 else f" of {users} users"
    say(
        f"ws: {SOCKETS} sockets{of_users}, {len(stamps)} check-ins at {RATE:.0f}/s: commit-to-push "
        f"p50 {ms(p50)} ms p99 {ms(p99)} ms (goal p99 < 250 ms {goal}), "
        f"{per_socket:.0f} KiB per socket, {missing} missed (NOTIFY, {load_average()})"
    )
    if missing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
