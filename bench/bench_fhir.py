"""Benchmark: FHIR R4 over `make serve` — Synthea import and search over the big store.

Runs after the big store is generated, on the same database, against `make serve` (production
settings, gunicorn workers) on a free loopback port:

1. Import: the 8 Synthea transaction Bundles (tests/fhir/fixtures, the same files as
   ../shared/fixtures/synthea) sent with `POST /api/fhir/`, one importer into the big tenant
   (whose patients the searches then find), then the same 8 dealt out to four concurrent
   importers (2 each), each into a fresh tenant of its own; then the big tenant's 8 again (a
   re-import that must change nothing). Figure: resources (bundle entries) per second of wall time.
2. Search: `Patient` by name prefix, family name and MRN, and `Observation` by patient (a
   generated patient, or an imported Synthea patient with its ~100 observations) and by
   Synthea patient + LOINC code (body height: every bundle has about ten), one client, one
   request at a time, over the big tenant's patients. Figure: p50 / p99 ms; the median
   `total` shows what each search found.

Goals (issue 12): import >= 600 resources/s on this machine, search p99 < 50 ms. When the
import is below its goal, one bundle is imported again in-process under cProfile and the
functions with the most cumulative time are printed: where the time goes.
"""

from __future__ import annotations

import cProfile
import http.client
import io
import json
import os
import pstats
import random
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DB,
    BIG_TENANT,
    REPO,
    django_setup,
    load_average,
    ms,
    percentile,
    say,
    scale,
    server_refusals,
    table,
)
from bench.loadgen import LOOPBACK

FIXTURES = Path(os.environ.get("BENCH_SYNTHEA_DIR", REPO / "tests" / "fhir" / "fixtures"))
IMPORTERS = 4
IMPORT_GOAL = 600.0  # resources/s
SEARCH_GOAL = 0.050  # seconds, p99
LOINC = "http://loinc.org"
HEIGHT = "8302-2"  # Body height: about ten per Synthea bundle, kept as sent (no vitals field)


@dataclass(frozen=True)
class Account:
    slug: str
    headers: dict[str, str]


@dataclass
class Imported:
    bundles: int = 0
    resources: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    patients: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def bundles() -> list[tuple[str, bytes, int]]:
    """(name, body, entries) of each Synthea bundle."""
    found = []
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name == "manifest.json":
            continue
        body = path.read_bytes()
        found.append((path.name, body, len(json.loads(body)["entry"])))
    if len(found) != 8:
        raise SystemExit(f"expected the 8 Synthea bundles in {FIXTURES}, found {len(found)}")
    return found


def accounts(slugs: list[str]) -> dict[str, Account]:
    """Each tenant's admin (it holds `fhir.import`) with a fresh token."""
    from ninja_jwt.tokens import AccessToken

    from bench.world import tenant_info, tenants_ensure
    from hm_core.iam.models import User

    tenants_ensure([s for s in slugs if s != BIG_TENANT])
    found = {}
    for slug in slugs:
        info = tenant_info(slug)
        user = User.objects.get(username=f"admin@{slug}")
        found[slug] = Account(
            slug,
            {
                "Authorization": f"Bearer {AccessToken.for_user(user)}",
                "X-Tenant-ID": str(info.tenant_id),
                "X-Facility-ID": str(info.facility_id),
                "User-Agent": "hm-bench-fhir",
            },
        )
    return found


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(LOOPBACK, port, timeout=600)


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> tuple[int, bytes]:
    sent = dict(headers)
    if body is not None:
        sent["Content-Type"] = "application/fhir+json"
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
    except (ConnectionError, http.client.HTTPException):
        conn.close()  # the server closed a kept-alive connection: once more on a new one
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
    return response.status, response.read()


def import_all(port: int, account: Account, work: list[tuple[str, bytes, int]]) -> Imported:
    """Send each bundle in turn on one connection; count entries and their statuses."""
    conn = _connection(port)
    done = Imported()
    started = time.perf_counter()
    for name, body, entries in work:
        status, answer = _call(conn, "POST", "/api/fhir/", account.headers, body)
        if status != 200:
            done.errors.append(f"{name}: {status} {answer[:300]!r}")
            continue
        reply = json.loads(answer)
        done.bundles += 1
        done.resources += entries
        for entry in reply["entry"]:
            key = entry["response"]["status"]
            done.statuses[key] = done.statuses.get(key, 0) + 1
        done.patients.append(reply["entry"][0]["response"]["location"].split("/")[1])
    done.seconds = time.perf_counter() - started
    conn.close()
    return done


def import_concurrently(
    port: int, team: list[Account], work: list[tuple[str, bytes, int]]
) -> tuple[Imported, list[Imported]]:
    """The bundles dealt out to the importers (2 each of 8 for 4), each importer into its own
    tenant, all at once; the total over wall time."""
    results: list[Imported] = [Imported() for _ in team]

    def run(index: int) -> None:
        results[index] = import_all(port, team[index], work[index :: len(team)])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(team))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Imported(
        bundles=sum(r.bundles for r in results),
        resources=sum(r.resources for r in results),
        seconds=time.perf_counter() - started,
        errors=[e for r in results for e in r.errors],
    )
    return total, results


# ---------------------------------------------------------------------------- search


@dataclass(frozen=True)
class Query:
    kind: str
    path: str


def population_sample(samples: int) -> list[tuple[Any, ...]]:
    """(id, MRN, given, family) of random patients of the big tenant, read before the server
    starts (the machine's connection slots are shared)."""
    from bench.world import tenant_info
    from hm_core.patients.models import Patient

    info = tenant_info(BIG_TENANT)
    return list(
        Patient.all_tenants.filter(tenant_id=info.tenant_id)
        .order_by("?")
        .values_list("id", "mrn", "given_name", "family_name")[: samples * 2]
    )


def queries(samples: int, rows: list[tuple[Any, ...]], synthea_patients: list[str]) -> list[Query]:
    """Searches at random over the big tenant's patients (generated and imported alike)."""
    rng = random.Random(20312)
    found: list[Query] = []
    for index in range(samples):
        pid, mrn, given, family = rows[index % len(rows)]
        other = rows[(index + samples) % len(rows)]
        imported = synthea_patients[index % len(synthea_patients)]
        found += [
            Query("Patient?name=<3 letters>", f"/api/fhir/Patient?name={(given or family)[:3]}"),
            Query("Patient?family=<name>", f"/api/fhir/Patient?family={other[3]}"),
            Query("Patient?identifier=<MRN>", f"/api/fhir/Patient?identifier={mrn}"),
            Query(
                "Observation?patient=<generated>", f"/api/fhir/Observation?patient=Patient/{pid}"
            ),
            Query(
                "Observation?patient=<Synthea>", f"/api/fhir/Observation?patient=Patient/{imported}"
            ),
            Query(
                "Observation?patient=<Synthea>&code=<height>",
                f"/api/fhir/Observation?patient=Patient/{imported}&code={LOINC}|{HEIGHT}",
            ),
            # Baselines in the same run: the REST search of the same MRN, and a trivial GET.
            Query("REST /api/patients/?search=<MRN>", f"/api/patients/?search={mrn}"),
            Query("GET /api/health/", "/api/health/"),
        ]
    rng.shuffle(found)
    return found


def search(port: int, account: Account, work: list[Query]) -> dict[str, list[float]]:
    """Run the queries one at a time on one kept-alive connection; latency per kind."""
    conn = _connection(port)
    seen: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    for query in work:
        started = time.perf_counter()
        status, body = _call(conn, "GET", query.path, account.headers)
        seconds = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{query.path}: {status} {body[:300]!r}")
        seen.setdefault(query.kind, []).append(seconds)
        answer = json.loads(body)
        hits.setdefault(query.kind, []).append(int(answer.get("total", answer.get("count", 0))))
    conn.close()
    seen["_hits"] = [percentile([float(h) for h in v], 50) for v in hits.values()]
    return seen


# ---------------------------------------------------------------------------- profile


def profile_import(account_slug: str, work: list[tuple[str, bytes, int]]) -> str:
    """One bundle into a fresh tenant, in-process under cProfile: the top functions by
    cumulative time, hm_core's own and the libraries'."""
    from django.test import Client

    from bench.world import tenants_ensure

    tenants_ensure([account_slug])
    team = accounts([account_slug])[account_slug]
    client = Client(HTTP_HOST=LOOPBACK)
    name, body, _ = max(work, key=lambda item: item[2])
    # A warm process, as the server's: the first request loads the URLconf (Ninja builds every
    # router's schema classes then), which is no part of an import.
    small = min(work, key=lambda item: item[2])[1]
    client.post(
        "/api/fhir/", data=small, content_type="application/fhir+json", headers=team.headers
    )
    profiler = cProfile.Profile()
    profiler.enable()
    response = client.post(
        "/api/fhir/", data=body, content_type="application/fhir+json", headers=team.headers
    )
    profiler.disable()
    if response.status_code != 200:
        return f"profile: {name} answered {response.status_code}"
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"hm_core|pydantic|fhir|django/db", 25)
    # Pydantic building model *classes* during a request is a cost worth naming: who does it.
    stats.print_callers(r"_model_construction.py:\d+\(__new__\)")
    return (
        f"profile of {name} ({len(json.loads(body)['entry'])} entries) in-process, "
        f"{_statements_of(client, team, body)} SQL statements when sent again to a fresh "
        "tenant; cumulative s, top 25:\n"
        + "\n".join(line for line in out.getvalue().splitlines() if line.strip())
    )


def _statements_of(client: Any, team: Account, body: bytes) -> int:
    """SQL statements of one import of `body` into another fresh tenant."""
    from bench.common import statements_sent
    from bench.world import tenants_ensure

    slug = f"fhirsql-{uuid.uuid4().hex[:6]}"
    tenants_ensure([slug])
    fresh = accounts([slug])[slug]
    with statements_sent() as sent:
        client.post(
            "/api/fhir/", data=body, content_type="application/fhir+json", headers=fresh.headers
        )
    return len(sent.sql)


# ---------------------------------------------------------------------------- main


def _rate(done: Imported) -> float:
    return done.resources / done.seconds if done.seconds > 0 else 0.0


def main() -> None:
    from bench.bench_http import free_port, start_server, stop_server

    sc = scale()
    samples = max(3 * sc.search_samples, 60)
    say(
        f"== fhir: Synthea import (1 and {IMPORTERS} importers) and search p99 over the big "
        f"store, on make serve ({samples} searches per kind, {load_average()})"
    )
    django_setup(BENCH_DB)
    from django.db import connection

    from hm_core.patients.models import Patient

    work = bundles()
    # Fresh tenants each run (a kept database may hold an earlier run's: that would re-import).
    fresh = [f"fhir{i}-{uuid.uuid4().hex[:6]}" for i in range(1, IMPORTERS + 1)]
    team = accounts([BIG_TENANT, *fresh])
    population = Patient.all_tenants.filter(tenant_id=_tenant_id(BIG_TENANT)).count()
    rows = population_sample(samples)
    connection.close()
    logdir = Path(tempfile.mkdtemp(prefix="hm_bench_fhir_"))
    port = free_port()
    server = start_server(port, logdir / "serve.log")
    try:
        one = import_all(port, team[BIG_TENANT], work)
        four, _ = import_concurrently(port, [team[slug] for slug in fresh], work)
        again = import_all(port, team[BIG_TENANT], work)
        load_after_import = load_average()
        report_import(one, four, again, load_after_import)
        times = search(port, team[BIG_TENANT], queries(samples, rows, one.patients))
    finally:
        stop_server(server)
    errors = one.errors + four.errors + again.errors
    if errors:
        say(f"  {len(errors)} failed bundle(s), first: {errors[0]}; server log: {logdir}")
        say(server_refusals(logdir / "serve.log"))
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    report_search(times, population)
    if _rate(one) < IMPORT_GOAL or _rate(four) < IMPORT_GOAL:
        say(profile_import(f"fhirprof-{uuid.uuid4().hex[:6]}", work))
    say(headline(one, four, times))
    if errors:
        raise SystemExit(1)


def _tenant_id(slug: str) -> Any:
    from bench.world import tenant_info

    return tenant_info(slug).tenant_id


def report_import(one: Imported, four: Imported, again: Imported, load: str) -> None:
    rows = [
        [label, d.bundles, d.resources, f"{d.seconds:.1f}", f"{_rate(d):.0f}", statuses]
        for label, d, statuses in (
            ("1 importer (big tenant)", one, _statuses(one)),
            (f"{IMPORTERS} importers ({IMPORTERS} tenants)", four, "-"),
            ("re-import (big tenant)", again, _statuses(again)),
        )
    ]
    say(table(["import", "bundles", "resources", "seconds", "resources/s", "entries"], rows))
    say(f"(goal >= {IMPORT_GOAL:.0f} resources/s; {load} after the imports)")
    say("")


def report_search(times: dict[str, list[float]], population: int) -> None:
    hits = dict(zip([k for k in times if k != "_hits"], times["_hits"], strict=True))
    rows = [
        [
            kind,
            len(values),
            f"{hits[kind]:.0f}",
            ms(percentile(values, 50)),
            ms(percentile(values, 99)),
        ]
        for kind, values in times.items()
        if kind != "_hits"
    ]
    say(table(["search (big tenant)", "n", "median total", "p50 ms", "p99 ms"], rows))
    say(
        f"({population:,} patients in the big tenant before the import; one client, HTTP "
        f"keep-alive, whole request; goal p99 < {SEARCH_GOAL * 1000:.0f} ms)"
    )


def _statuses(done: Imported) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(done.statuses.items()))


def headline(one: Imported, four: Imported, times: dict[str, list[float]]) -> str:
    worst = max(
        (percentile(v, 99), k)
        for k, v in times.items()
        if k.startswith(("Patient", "Observation"))  # not the baselines
    )
    met = "met" if min(_rate(one), _rate(four)) >= IMPORT_GOAL else "NOT MET"
    search_met = "met" if worst[0] < SEARCH_GOAL else "NOT MET"
    return (
        f"fhir: import {_rate(one):.0f} resources/s (1 importer), {_rate(four):.0f} "
        f"({IMPORTERS} importers) (goal {IMPORT_GOAL:.0f}: {met}); search p99 worst "
        f"{ms(worst[0])} ms ({worst[1]}) (goal {SEARCH_GOAL * 1000:.0f} ms: {search_met})"
    )


if __name__ == "__main__":
    main()
