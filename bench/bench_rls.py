"""Benchmark: the cost of row-level security (contract §18) on the big store.

The same request-shaped reads run with RLS on and off, interleaved sample by sample so that a
noisy neighbour slows both sides alike. With RLS on each sample does what a scoped web request does:
enters its tenant (one `set_config` of role and `app.tenant_id`: samples alternate between two
tenants, as requests of many tenants share pooled connections), looks its user up, then reads
under the scope (the policy on every tenant table it reads). Off,
the same code runs as the connecting user without policies (`DB_ROW_LEVEL_SECURITY=0`). Reads:
a patient search by exact MRN and by surname prefix (page of 50 and count), and a patient by id.
The headline is the ratio of the medians, on / off. The step brings its own two tenants
(`rls-a`, measured, and `rls-b`, whose rows the policies must keep out), registered through
the services, so that it depends on no other step's data.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.common import (
    BENCH_DB,
    django_setup,
    load_average,
    ms,
    percentile,
    ratio,
    say,
    scale,
    table,
)

KINDS = ("MRN exact", "surname prefix", "patient by id")
TENANTS = ("rls-a", "rls-b")
FIRST = ("Ada", "Alan", "Grace", "Hana", "Ivan", "Lina", "Omar", "Rosa", "Sami", "Yuki")
LAST = ("Lovelace", "Turing", "Hopper", "Noether", "Curie", "Meitner", "Khayyam", "Franklin")


def _populate(scope: Any, patients: int, rng: random.Random) -> None:
    """Patients of the tenant through the service (idempotent: tops up to `patients`)."""
    from datetime import date

    from hm_core.common.scope import scope_active
    from hm_core.patients import services
    from hm_core.patients.models import Patient

    with scope_active(scope):
        have = Patient.objects.for_scope(scope).count()
    for index in range(have, patients):
        services.patient_register(
            scope=scope,
            demographics={
                "mrn": f"MRN-{scope.tenant_id.hex[:4]}-{index:06d}",
                "full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}{index}",
                "date_of_birth": date(1950 + index % 60, 1 + index % 12, 1 + index % 28),
                "gender": "MF"[index % 2],
            },
        )


def _people(scope: Any) -> list[tuple[str, str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id::text, full_name, mrn FROM patients_patient WHERE tenant_id = %s "
            "ORDER BY random() LIMIT 500",
            [scope.tenant_id],
        )
        return [(pid, name, mrn) for pid, name, mrn in cursor.fetchall()]


def _sample(scope: Any, kind: str, person: tuple[str, str, str]) -> None:
    """What a scoped request does with the database: its user, then its read under the scope."""
    from hm_core.common import rls
    from hm_core.common.pagination import paginate
    from hm_core.common.scope import scope_active
    from hm_core.iam.models import User
    from hm_core.patients.models import Patient
    from hm_core.patients.selectors import PatientFilters, patient_list

    pid, name, mrn = person
    with rls.tenant(scope.tenant_id):  # ScopeAuth: the header's tenant, then the user
        User.objects.filter(username="nobody-bench").exists()
    with scope_active(scope):
        if kind == "patient by id":
            Patient.objects.for_scope(scope).filter(id=pid).first()
            return
        term = mrn if kind == "MRN exact" else name.split(" ")[1][:5]
        paginate(patient_list(scope=scope, filters=PatientFilters(search=term)), limit=50, offset=0)


def _set_rls(on: bool) -> None:
    from django.conf import settings
    from django.db import connection

    from hm_core.common import rls

    if not on and settings.HM_ROW_LEVEL_SECURITY:
        with rls.system("bench: back to the connecting user"), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    settings.HM_ROW_LEVEL_SECURITY = on


def main() -> None:
    sc = scale()
    samples = sc.search_samples * sc.read_rounds
    say(
        f"== rls: request-shaped reads with row-level security on vs off, interleaved "
        f"({samples} samples per kind and side, {load_average()})"
    )
    django_setup(BENCH_DB)
    from bench.world import scope_for, tenants_ensure

    rng = random.Random(17)
    infos = tenants_ensure(list(TENANTS))
    scopes = [scope_for(infos[slug], "nurse", "bench-rls") for slug in TENANTS]
    per_tenant = 300 if sc.name == "small" else 3000
    for each in scopes:
        _populate(each, per_tenant, rng)
    people = [(each, person) for each in scopes for person in _people(each)]
    latencies: dict[tuple[str, bool], list[float]] = {}
    for kind in KINDS:
        for on in (True, False):  # warm-up, unmeasured
            _set_rls(on)
            _sample(people[0][0], kind, people[0][1])
        for index in range(samples):
            # Alternate tenants, as requests of many tenants share pooled connections: with RLS
            # on, every sample switches the session's tenant (one set_config).
            each, person = rng.choice([p for p in people if p[0] is scopes[index % 2]])
            for on in (True, False) if rng.random() < 0.5 else (False, True):
                _set_rls(on)
                started = time.perf_counter()
                _sample(each, kind, person)
                latencies.setdefault((kind, on), []).append(time.perf_counter() - started)
    _set_rls(True)
    rows = []
    for kind in KINDS:
        on, off = latencies[(kind, True)], latencies[(kind, False)]
        rows.append(
            [
                kind,
                len(on),
                ms(percentile(off, 50)),
                ms(percentile(on, 50)),
                ratio(percentile(on, 50), percentile(off, 50)),
                ms(percentile(off, 99)),
                ms(percentile(on, 99)),
            ]
        )
    say(table(["read", "samples", "off p50", "on p50", "on/off", "off p99", "on p99"], rows))
    every_on = [v for kind in KINDS for v in latencies[(kind, True)]]
    every_off = [v for kind in KINDS for v in latencies[(kind, False)]]
    overall = ratio(percentile(every_on, 50), percentile(every_off, 50))
    say(
        f"rls: row-level security costs x{overall}"
        f" at the median of request-shaped reads ("
        + ", ".join(f"{row[0]} x{row[4]}" for row in rows)
        + ")"
    )


if __name__ == "__main__":
    main()
