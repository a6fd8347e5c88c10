"""Benchmark 2: the README's OPD walk-through over HTTP against `make serve`, versus /api/health/.

`make serve` runs exactly as an operator would (migrate, collectstatic, gunicorn with
WEB_CONCURRENCY uvicorn workers, production settings) on the scratch database, on a free loopback
port. Each virtual client acts for one tenant made by `bootstrap_demo` with its own tokens (a
nurse's and a doctor's, minted for the demo users) and walks: register a patient → schedule →
check in → vitals → start consult → assessment → plan → close, again and again. The trivial
endpoint is GET /api/health/ (no auth; a `SELECT 1` and the async-subscription lag) served by
the same server at the same concurrency, so the ratio says what the domain work costs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.common import (
    BENCH_DB,
    REPO,
    SERVER_START_SECONDS,
    django_env,
    django_setup,
    load_average,
    ms,
    percentile,
    say,
    scale,
    server_refusals,
    statements_sent,
    table,
)
from bench.loadgen import Connection, Recorder
from bench.world import VITALS

CONCURRENCY = (16, 64)
WALK_STEPS = (
    "register patient",
    "schedule encounter",
    "check-in",
    "vitals",
    "start-consult",
    "assessment",
    "plan",
    "close",
)


@dataclass(frozen=True)
class Identity:
    """What one virtual client sends: its tenant's scope headers and its own two tokens."""

    index: int
    slug: str
    tenant_id: str
    facility_id: str
    nurse_token: str
    doctor_token: str

    def headers(self, role: str) -> dict[str, str]:
        token = self.nurse_token if role == "nurse" else self.doctor_token
        return {
            "Authorization": f"Bearer {token}",
            "X-Tenant-ID": self.tenant_id,
            "X-Facility-ID": self.facility_id,
            "Content-Type": "application/json",
            "User-Agent": "hm-bench",
        }


def identities(tenant_count: int, clients: int) -> list[Identity]:
    """Tenants from bootstrap_demo; client i acts in tenant i mod tenant_count."""
    from ninja_jwt.tokens import AccessToken

    from bench.world import tenants_ensure
    from hm_core.iam.models import User

    started = time.perf_counter()
    infos = list(tenants_ensure([f"http{i:02d}" for i in range(tenant_count)]).values())
    say(f"  {tenant_count} tenants via bootstrap_demo in {time.perf_counter() - started:.1f}s")
    users = {u.username: u for u in User.objects.filter(username__contains="@http")}
    found = []
    for index in range(clients):
        info = infos[index % tenant_count]
        found.append(
            Identity(
                index=index,
                slug=info.slug,
                tenant_id=str(info.tenant_id),
                facility_id=str(info.facility_id),
                nurse_token=str(AccessToken.for_user(users[f"nurse@{info.slug}"])),
                doctor_token=str(AccessToken.for_user(users[f"doctor@{info.slug}"])),
            )
        )
    return found


def statements_per_step(who: Identity) -> dict[str, tuple[int, int]]:
    """One walk in-process (django.test.Client: same settings, middleware and database):
    the SQL statements and the COMMITs each step sends to PostgreSQL."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    counts: dict[str, tuple[int, int]] = {}

    def send(step: str, role: str | None, path: str, body: Any = None) -> Any:
        headers = who.headers(role or "nurse")
        headers.pop("Content-Type")
        with statements_sent() as queries:
            if role is None:
                response = client.get(path, headers={"User-Agent": "hm-bench"})
            else:
                data = json.dumps(body or {})
                response = client.post(
                    path, data=data, content_type="application/json", headers=headers
                )
        counts[step] = (len(queries.sql), queries.commits)
        if response.status_code >= 300:
            raise RuntimeError(f"in-process {step} answered {response.status_code}")
        return response.json()

    patient = send(
        WALK_STEPS[0],
        "nurse",
        "/api/patients/",
        {
            "full_name": "Ada Lovelace",
            "mrn": f"Q-{uuid.uuid4().hex[:10]}",
            "gender": "F",
            "date_of_birth": "1985-12-10",
        },
    )
    body = {"patient": patient["id"], "reason": "Cough", "scheduled_at": "2030-01-01T09:00:00Z"}
    base = f"/api/encounters/{send(WALK_STEPS[1], 'nurse', '/api/encounters/', body)['id']}"
    send(WALK_STEPS[2], "nurse", f"{base}/check-in/")
    send(WALK_STEPS[3], "nurse", f"{base}/vitals/", VITALS)
    send(WALK_STEPS[4], "doctor", f"{base}/start-consult/")
    send(WALK_STEPS[5], "doctor", f"{base}/assessment/", {"assessment": "Viral URTI"})
    send(WALK_STEPS[6], "doctor", f"{base}/plan/", {"plan": "Fluids, rest"})
    send(WALK_STEPS[7], "doctor", f"{base}/close/")
    send("GET /api/health/", None, "/api/health/")
    return counts


# ---------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    """`make serve` on the scratch database, in its own process group so we can stop it all."""
    env = django_env(BENCH_DB)
    env.pop("DJANGO_SETTINGS_MODULE")  # make serve sets it itself
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603
            # `make bench` has run `install` already: never let the server's make reinstall
            # (a worktree's requirements files are newer than a shared .venv's marker).
            [  # noqa: S607
                "make",
                "--no-print-directory",
                "-o",
                ".venv/.installed",
                "serve",
                "HOST=127.0.0.1",
                f"PORT={port}",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.time() + SERVER_START_SECONDS
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"make serve exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(
        f"make serve did not answer on :{port} within {SERVER_START_SECONDS:.0f} s; see {log}"
    )


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (gunicorn drains), SIGKILL it if it lingers."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def gunicorn_workers(log: Path) -> int:
    """How many workers gunicorn booted (read from its log, so it is what really ran)."""
    return sum("Booting worker" in line for line in log.read_text(errors="replace").splitlines())


# ---------------------------------------------------------------------------- client loops


def health_loop() -> loadgen.ClientLoop:
    async def loop(conn: Connection, rec: Recorder) -> None:
        while not rec.stopped:
            started = time.perf_counter()
            response = await conn.request("GET", "/api/health/", {"User-Agent": "hm-bench"})
            rec.add("GET /api/health/", response.status, started)

    return loop


@dataclass(frozen=True)
class Start:
    """Where a client's first walk begins: at step `stage`, on a visit already taken there."""

    stage: int
    patient_id: str = ""
    encounter_id: str = ""


def starts(who: list[Identity]) -> list[Start]:
    """Client i begins at step i mod 8 on a visit advanced there through the services, so that
    from the first second of a window every step is being walked by some client (all clients
    starting at "register" would stay in step for the seconds of a small run's window)."""
    from bench.world import SCHEDULED_AT, patient_register, scope_for, tenant_info
    from hm_core.encounters import services

    found = []
    scopes: dict[str, tuple[Any, Any]] = {}
    for client in who:
        stage = client.index % len(WALK_STEPS)
        if client.slug not in scopes:
            info = tenant_info(client.slug)
            scopes[client.slug] = (scope_for(info, "nurse"), scope_for(info, "doctor"))
        nurse, doctor = scopes[client.slug]
        if stage == 0:
            found.append(Start(0))
            continue
        patient = patient_register(nurse, mrn=f"S-{uuid.uuid4().hex[:12]}", full_name="Ada Byron")
        if stage == 1:
            found.append(Start(1, str(patient)))
            continue
        eid = services.encounter_create(
            scope=nurse, patient_id=patient, reason="Cough", scheduled_at=SCHEDULED_AT
        ).id
        _advance(nurse, doctor, eid, steps=stage - 2)
        found.append(Start(stage, str(patient), str(eid)))
    return found


def _advance(nurse: Any, doctor: Any, encounter_id: Any, *, steps: int) -> None:
    """Take a scheduled visit through its first `steps` steps after scheduling."""
    from bench.world import vitals
    from hm_core.encounters import services

    calls = [
        lambda: services.encounter_check_in(scope=nurse, encounter_id=encounter_id),
        lambda: services.encounter_record_vitals(
            scope=nurse, encounter_id=encounter_id, vitals=vitals()
        ),
        lambda: services.encounter_start_consult(scope=doctor, encounter_id=encounter_id),
        lambda: services.encounter_record_assessment(
            scope=doctor, encounter_id=encounter_id, assessment="Viral URTI"
        ),
        lambda: services.encounter_record_plan(
            scope=doctor, encounter_id=encounter_id, plan="Fluids"
        ),
    ]
    for call in calls[:steps]:
        call()


def walk_loop(
    who: Identity, errors: list[str], *, once: bool = False, start: Start | None = None
) -> loadgen.ClientLoop:
    """The README's curl walk-through, repeated (or `once`); a failed step abandons that visit.
    The first walk may begin part-way (`start`), on a visit prepared up to that step."""

    async def step(
        conn: Connection, rec: Recorder, name: str, role: str, path: str, body: Any = None
    ) -> loadgen.Response | None:
        started = time.perf_counter()
        response = await conn.request("POST", path, who.headers(role), body if body else {})
        rec.add(name, response.status, started)
        if response.status >= 300:
            errors.append(f"{name}: {response.status} {response.body[:200]!r}")
            return None
        return response

    async def loop(conn: Connection, rec: Recorder) -> None:
        visit, first = 0, start or Start(0)
        while not rec.stopped:
            visit += 1
            stage, patient_id, encounter_id = first.stage, first.patient_id, first.encounter_id
            first = Start(0)
            if stage == 0:
                mrn = f"H{who.index:02d}-{visit}-{uuid.uuid4().hex[:8]}"
                patient = await step(
                    conn,
                    rec,
                    WALK_STEPS[0],
                    "nurse",
                    "/api/patients/",
                    {
                        "full_name": "Ada Lovelace",
                        "mrn": mrn,
                        "date_of_birth": "1985-12-10",
                        "gender": "F",
                        "phone": "+44 20 7946 0000",
                    },
                )
                if patient is None or rec.stopped:
                    continue
                patient_id = patient.json()["id"]
            if stage <= 1:
                body = {
                    "patient": patient_id,
                    "reason": "Cough",
                    "scheduled_at": "2030-01-01T09:00:00Z",
                }
                encounter = await step(conn, rec, WALK_STEPS[1], "nurse", "/api/encounters/", body)
                if encounter is None:
                    continue
                encounter_id = encounter.json()["id"]
            base = f"/api/encounters/{encounter_id}"
            rest = [
                (WALK_STEPS[2], "nurse", f"{base}/check-in/", None),
                (WALK_STEPS[3], "nurse", f"{base}/vitals/", VITALS),
                (WALK_STEPS[4], "doctor", f"{base}/start-consult/", None),
                (WALK_STEPS[5], "doctor", f"{base}/assessment/", {"assessment": "Viral URTI"}),
                (WALK_STEPS[6], "doctor", f"{base}/plan/", {"plan": "Fluids, rest"}),
                (WALK_STEPS[7], "doctor", f"{base}/close/", None),
            ]
            for name, role, path, payload in rest[max(stage - 2, 0) :]:
                if rec.stopped or await step(conn, rec, name, role, path, payload) is None:
                    break
            if once:
                return

    return loop


# ---------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    requests: int
    per_second: float
    p50: float
    p99: float
    failed: int
    client_cpu: float  # share of one core the load generator used
    result: loadgen.RunResult


def run_scenario(
    name: str, loops: list[loadgen.ClientLoop], port: int, warmup: float, seconds: float
) -> Scenario:
    result = loadgen.run(port, loops, warmup=warmup, seconds=seconds)
    measured = result.measured()
    latencies = [s.seconds for s in measured]
    return Scenario(
        name=name,
        clients=len(loops),
        requests=len(measured),
        per_second=len(measured) / result.window,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        failed=sum(s.status >= 300 for s in measured),
        client_cpu=result.cpu_seconds / (warmup + seconds),
        result=result,
    )


def sanity_walk(who: Identity, port: int) -> None:
    """One walk-through before measuring: every step must answer 2xx, or we stop here."""
    errors: list[str] = []
    result = loadgen.run(port, [walk_loop(who, errors, once=True)], warmup=0, seconds=60)
    if errors:
        raise RuntimeError(f"the walk-through fails against make serve: {errors[0]}")
    steps = {s.step for s in result.samples}
    if steps != set(WALK_STEPS):
        raise RuntimeError(f"the sanity walk-through did not reach every step: {sorted(steps)}")


def report(scenarios: list[Scenario], workers: int, statements: dict[str, tuple[int, int]]) -> None:
    rows = [
        [
            s.name,
            s.clients,
            s.requests,
            f"{s.per_second:.0f}",
            ms(s.p50),
            ms(s.p99),
            s.failed,
            f"{100 * s.client_cpu:.0f}%",
        ]
        for s in scenarios
    ]
    headers = ["endpoint", "clients", "requests", "req/s", "p50 ms", "p99 ms", "non-2xx", "loadgen"]
    say(table(headers, rows))
    say(
        f"server: make serve, gunicorn {workers} uvicorn workers, prod settings, no REDIS_URL "
        "(async subscribers drain in-process after each commit); loadgen = CPU of one core "
        "used by the load generator itself"
    )
    walks = [s for s in scenarios if s.name.startswith("OPD")]
    say("")
    say("per request: p50 / p99 ms under load; SQL statements and COMMITs of one in-process call")
    step_rows = []
    for step in (*WALK_STEPS, "GET /api/health/"):
        row: list[object] = [step]
        for s in walks if step in WALK_STEPS else []:
            lat = [x.seconds for x in s.result.measured() if x.step == step]
            row.append(f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 99))}")
        for s in [] if step in WALK_STEPS else walks:
            trivial = next(t for t in scenarios if t.name == step and t.clients == s.clients)
            row.append(f"{ms(trivial.p50)} / {ms(trivial.p99)}")
        row += list(statements.get(step, ("?", "?")))
        step_rows.append(row)
    say(
        table(
            ["request", *(f"{s.clients} clients" for s in walks), "statements", "commits"],
            step_rows,
        )
    )
    by = {(s.name.split()[0], s.clients): s for s in scenarios}
    parts, ratios, health = [], [], []
    for clients in CONCURRENCY:
        walk, trivial = by[("OPD", clients)], by[("GET", clients)]
        parts.append(
            f"{clients}c {walk.per_second:.0f} req/s p50 {ms(walk.p50)} ms p99 {ms(walk.p99)} ms"
        )
        health.append(f"{clients}c {trivial.per_second:.0f} req/s p99 {ms(trivial.p99)} ms")
        ratios.append(f"{walk.per_second / trivial.per_second:.2f} ({clients}c)")
    say(
        f"http: OPD walk {', '.join(parts)}; /api/health/ {', '.join(health)}; "
        f"ratio {' / '.join(ratios)}"
    )


def main() -> None:
    sc = scale()
    say(
        f"== http: OPD walk-through vs GET /api/health/ on make serve "
        f"({sc.http_warmup:.0f}s warm-up + {sc.http_seconds:.0f}s per run, {load_average()})"
    )
    django_setup(BENCH_DB)
    from django.db import connection

    who = identities(sc.http_tenants, max(CONCURRENCY))
    statements = statements_per_step(who[-1])
    started = time.perf_counter()
    begin = {clients: starts(who[:clients]) for clients in CONCURRENCY}
    say(
        f"  visits prepared for staggered starts (client i at step i mod {len(WALK_STEPS)}) in "
        f"{time.perf_counter() - started:.1f}s"
    )
    connection.close()
    logdir = Path(tempfile.mkdtemp(prefix="hm_bench_http_"))
    port = free_port()
    server = start_server(port, logdir / "serve.log")
    scenarios: list[Scenario] = []
    errors: list[str] = []
    try:
        sanity_walk(who[0], port)
        for clients in CONCURRENCY:
            scenarios.append(
                run_scenario(
                    "GET /api/health/",
                    [health_loop() for _ in range(clients)],
                    port,
                    sc.http_warmup,
                    sc.http_seconds,
                )
            )
            scenarios.append(
                run_scenario(
                    "OPD walk-through",
                    [
                        walk_loop(w, errors, start=first)
                        for w, first in zip(who[:clients], begin[clients], strict=True)
                    ],
                    port,
                    sc.http_warmup,
                    sc.http_seconds,
                )
            )
    finally:
        stop_server(server)
    workers = gunicorn_workers(logdir / "serve.log")
    if errors:
        say(f"  {len(errors)} failed step(s), first: {errors[0]}; server log: {logdir}")
        say(server_refusals(logdir / "serve.log"))
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    if errors:
        say(
            "  (a failed step abandons its visit, so under failures a later step's cell may "
            "read n/a for that reason too; failures are counted in non-2xx)"
        )
    report(scenarios, workers, statements)


if __name__ == "__main__":
    main()
