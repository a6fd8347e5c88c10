"""In-process FHIR import figures: the 8 Synthea Bundles through `POST /api/fhir/` with Django's
test client (production settings, no server), into a fresh tenant, then again (a re-import that
must answer `200 OK` for every entry). Prints entries/s, this process's CPU per entry and SQL
statements per entry. For a before/after in one run, call it alternately from two checkouts on
the same database (their schemas must match):

    BENCH_FHIR_DB=hm_core_me .venv/bin/python bench/fhir_import_inprocess.py before 3

`BENCH_FHIR_MIGRATE=1` migrates the database first. A fresh tenant's first Bundle also pays its
after-commit catch-up of the async subscriptions (its checkpoints start behind its events).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import django_setup, load_average, statements_sent


def _post(client: Any, headers: dict[str, str], body: bytes) -> Any:
    response = client.post(
        "/api/fhir/", data=body, content_type="application/fhir+json", headers=headers
    )
    if response.status_code != 200:
        raise SystemExit(f"import answered {response.status_code}: {response.content[:300]!r}")
    return response


def main(label: str, rounds: int) -> None:
    django_setup(os.environ["BENCH_FHIR_DB"])
    from django.core.management import call_command
    from django.test import Client

    from bench.bench_fhir import accounts, bundles
    from bench.world import tenants_ensure

    if os.environ.get("BENCH_FHIR_MIGRATE"):
        call_command("migrate", verbosity=0)
    work = bundles()
    entries = sum(count for _, _, count in work)
    client = Client(HTTP_HOST="127.0.0.1")
    warm = f"fhirwarm-{uuid.uuid4().hex[:6]}"  # a warm process: URLconf, models, FHIR classes
    tenants_ensure([warm])
    _post(client, accounts([warm])[warm].headers, min(work, key=lambda w: w[2])[1])
    for round_ in range(rounds):
        slug = f"fhirin-{uuid.uuid4().hex[:6]}"
        tenants_ensure([slug])
        headers = accounts([slug])[slug].headers
        figures = []
        for again in (False, True):
            with statements_sent() as sent:
                wall, cpu = time.perf_counter(), time.process_time()
                for _, body, _ in work:
                    answer = _post(client, headers, body).json()
                    statuses = {e["response"]["status"] for e in answer["entry"]}
                    if again and statuses != {"200 OK"}:
                        raise SystemExit(f"a re-import changed something: {statuses}")
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            figures.append(
                f"{entries / wall:.0f} entries/s ({wall:.1f} s, CPU {cpu / entries * 1000:.2f} "
                f"ms/entry, {len(sent.sql) / entries:.2f} statements/entry)"
            )
        print(f"{label} round {round_}: first {figures[0]}; again {figures[1]}; {load_average()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "run", int(sys.argv[2]) if len(sys.argv) > 2 else 1)
