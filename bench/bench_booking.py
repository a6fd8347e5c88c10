"""Benchmark: appointment booking under contention (issue 15; exactly one booking per slot).

Fifty clerks book ten slots of one doctor at the same instant (five per slot), each in its own
thread with its own database connection, through the whole request path (`POST
/api/appointments/` via Django's test client: token, scope, validation, the overlap check,
the append, the projections, the reminder policy, the PostgreSQL exclusion constraints). Exactly
ten must answer 201 and forty 409 `slot_unavailable`. Then 200 bookings one after another on
free slots give the uncontended latency; the headline is both p99s.

Run alone: `.venv/bin/python -m bench.bench_booking [--db NAME]` (the database is created,
migrated and dropped unless BENCH_KEEP_DB=1).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.bench_dicom import create_db, drop_db
from bench.common import BENCH_DB, ms, percentile, say, table

CLERKS, SLOTS, SEQUENTIAL = 50, 10, 200
FIRST_DAY = date(2031, 1, 6)  # a Monday, far ahead: never "in the past"


def setup(db: str) -> dict[str, Any]:
    """A tenant, a doctor open every day 08:00-18:00 (30-minute slots), enough patients."""
    from bench.common import django_setup

    django_setup(db)
    from bench.world import new_mrn, patient_register, scope_for, tenants_ensure
    from hm_core.iam.models import User
    from hm_core.scheduling.events import WeeklyHours
    from hm_core.scheduling.services import schedule_create

    info = tenants_ensure(["booking"])["booking"]
    doctor = User.objects.get(username="doctor@booking")
    schedule_create(
        scope=scope_for(info, "admin"),
        practitioner_id=doctor.id,
        weekly=[WeeklyHours(weekday=d, start="08:00", end="18:00") for d in range(7)],
        slot_minutes=30,
        valid_from=FIRST_DAY,
        valid_to=None,
    )
    nurse = scope_for(info, "nurse")
    patients = [
        patient_register(nurse, mrn=new_mrn("BK"), full_name=f"Patient {i}")
        for i in range(CLERKS + SEQUENTIAL)
    ]
    return {"info": info, "doctor": doctor.id, "patients": patients}


def client(info: Any) -> Any:
    """A test client acting as the tenant's receptionist."""
    from django.test import Client
    from ninja_jwt.tokens import AccessToken

    from hm_core.iam.models import User

    user = User.objects.get(username=f"receptionist@{info.slug}")
    return Client(
        headers={
            "Authorization": f"Bearer {AccessToken.for_user(user)}",
            "X-Tenant-ID": str(info.tenant_id),
            "X-Facility-ID": str(info.facility_id),
        }
    )


def post_booking(api: Any, world: dict[str, Any], patient: uuid.UUID, start: datetime) -> int:
    body = {
        "patient": str(patient),
        "practitioner": str(world["doctor"]),
        "start": start.isoformat().replace("+00:00", "Z"),
        "reason": "Follow-up",
    }
    return int(api.post("/api/appointments/", body, content_type="application/json").status_code)


def contended(world: dict[str, Any]) -> tuple[Counter[int], list[float]]:
    """CLERKS threads, released together by a barrier, on SLOTS slots."""
    from django.db import connection

    slots = [datetime(2031, 1, 6, 8, tzinfo=UTC) + timedelta(minutes=30 * i) for i in range(SLOTS)]
    barrier = threading.Barrier(CLERKS)
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def clerk(i: int) -> None:
        api = client(world["info"])
        try:
            barrier.wait()
            started = time.perf_counter()
            code = post_booking(api, world, world["patients"][i], slots[i % SLOTS])
            took = time.perf_counter() - started
        finally:
            connection.close()
        with lock:
            codes[code] += 1
            latencies.append(took)

    threads = [threading.Thread(target=clerk, args=(i,)) for i in range(CLERKS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return codes, latencies


def sequential(world: dict[str, Any]) -> tuple[Counter[int], list[float]]:
    """SEQUENTIAL bookings one after another, each on a free slot (days after the first)."""
    api = client(world["info"])
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    for i in range(SEQUENTIAL):
        day = FIRST_DAY + timedelta(days=1 + i // 20)
        start = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(
            minutes=30 * (i % 20)
        )
        started = time.perf_counter()
        codes[post_booking(api, world, world["patients"][CLERKS + i], start)] += 1
        latencies.append(time.perf_counter() - started)
    return codes, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=f"{BENCH_DB}_booking")
    db = parser.parse_args().db
    say(f"== booking: {CLERKS} concurrent bookings of {SLOTS} slots, then {SEQUENTIAL} in a row")
    create_db(db)
    try:
        world = setup(db)
        report(world)
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            from django.db import connections

            connections.close_all()
            drop_db(db)


def report(world: dict[str, Any]) -> None:
    from hm_core.scheduling.models import Appointment

    codes, racing = contended(world)
    booked = Appointment.all_tenants.filter(status="BOOKED").count()
    seq_codes, calm = sequential(world)
    rows = [
        [
            "50 clerks, 10 slots",
            dict(codes),
            ms(percentile(racing, 50)),
            ms(percentile(racing, 99)),
        ],
        [
            f"{SEQUENTIAL} in a row",
            dict(seq_codes),
            ms(percentile(calm, 50)),
            ms(percentile(calm, 99)),
        ],
    ]
    say(table(["run", "answers", "p50 ms", "p99 ms"], rows))
    ok = codes == Counter({201: SLOTS, 409: CLERKS - SLOTS}) and booked == SLOTS
    ok = ok and seq_codes == Counter({201: SEQUENTIAL})
    verdict = "exactly one each" if ok else "WRONG"
    say(
        f"booking: {codes[201]} of {CLERKS} concurrent bookings won {SLOTS} slots ({verdict}); "
        f"p99 {ms(percentile(racing, 99))} ms contended, {ms(percentile(calm, 99))} ms uncontended"
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
