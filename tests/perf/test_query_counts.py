"""SQL statements per command through the HTTP API: a regression here fails the suite.

Counts are deterministic for a given engine; the targets are issue 10's (PostgreSQL). They are
measured on each user's second request (a warm session),
and count what reaches the database through Django's cursors (an execute wrapper: a savepoint
the unit of work never had to send is not counted); BEGIN and COMMIT are not counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tests.conftest import Api, World

VITALS = {
    "blood_pressure_systolic": 120,
    "blood_pressure_diastolic": 80,
    "pulse": 72,
    "temperature": 98.6,
    "spo2": 98,
    "respiratory_rate": 16,
}

# Issue 10's targets, and what the code reaches today (before the unit of work: 28, 42, 66,
# 62, 155, 5; before after-commit work only when someone listens: 20, 24, 37, 40, 51, 5; before
# one-statement auth, answers from the written rows and grouped writes: 13, 15, 24, 29, 25, 6).
TARGETS = {
    "register": 8,
    "check_in": 10,
    "vitals": 14,
    "start_consult": 12,
    "lab_order": 20,
    "patient_read": 3,
}
# Auth on a cache miss is one statement (the user joined to membership, roles and grants). A
# command answers from the rows its unit of work wrote (no re-read), and on PostgreSQL the writes
# of one flush after the event INSERT go out as one statement (data-modifying CTEs), the head
# and checkpoint updates included. What is left: the aggregate read, the head lock, reads by
# policies (the consult's billing policy reads the CONSULT price; the task policies read tasks),
# a MAX(stream_version) for a policy's stream, and, after COMMIT, one `pg_notify` (realtime
# announcement; inside the transaction NOTIFY would serialise every tenant's commits). The lab
# order's answer still reads its items (the API).
# The reports' per-day rollups (hm_core/reports/rollups.py) read, under the head lock, the
# facility's time zone and a visit's row before it changes (to move its counts between local
# days): check-in +2, consult +2, lab order +1; their increments join the grouped statement.
REACHED = {
    "register": 6,
    "check_in": 8,
    "vitals": 13,
    "start_consult": 11,
    "lab_order": 11,
    "patient_read": 3,  # its audit INSERT also sets synchronous_commit off: no flush, no trip
}


def _count(call: Callable[[], Any], *, expected_status: int) -> tuple[int, list[str]]:
    # A real transaction (transactional_db): after-commit work, the in-process drain of async
    # subscriptions, counts too, and no test savepoint is added around the command.
    statements: list[str] = []

    def sent(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(sent):
        response = call()
    assert response.status_code == expected_status, response.json()
    if os.environ.get("HM_SHOW_SQL"):
        print(f"--- {len(statements)}", *statements, sep="\n")
    return len(statements), statements


def _register(api: Api, mrn: str) -> Any:
    body = {"full_name": "Ada Lovelace", "mrn": mrn, "date_of_birth": "1985-12-10", "gender": "F"}
    return api.post("/api/patients/", body)


def _encounter(api: Api, patient: str) -> str:
    r = api.post(
        "/api/encounters/",
        {"patient": patient, "reason": "Cough", "scheduled_at": "2030-01-01T09:00:00Z"},
    )
    assert r.status_code == 201, r.json()
    return str(r.json()["id"])


def _counts(lab_world: World) -> dict[str, int]:
    """Statements of each command kind along one OPD visit with a LAB order of CBC+CRP."""
    nurse, doctor = lab_world.api("nurse"), lab_world.api("doctor")
    warm = _register(nurse, "MRN-WARM").json()["id"]  # caches each user's principal
    doctor.get(f"/api/patients/{warm}/")
    found: dict[str, int] = {}
    found["register"], _ = _count(lambda: _register(nurse, "MRN-1"), expected_status=201)
    patient = nurse.get("/api/patients/", {"search": "MRN-1"}).json()["items"][0]["id"]
    found["patient_read"], _ = _count(
        lambda: doctor.get(f"/api/patients/{patient}/"), expected_status=200
    )
    base = f"/api/encounters/{_encounter(nurse, patient)}"
    found["check_in"], _ = _count(lambda: nurse.post(f"{base}/check-in/"), expected_status=200)
    found["vitals"], _ = _count(lambda: nurse.post(f"{base}/vitals/", VITALS), expected_status=201)
    found["start_consult"], _ = _count(
        lambda: doctor.post(f"{base}/start-consult/"), expected_status=200
    )
    order = {
        "encounter": base.rsplit("/", 1)[1],
        "order_type": "LAB",
        "priority": "ROUTINE",
        "items": [{"service_code": "CBC"}, {"service_code": "CRP"}],
    }
    found["lab_order"], _ = _count(lambda: doctor.post("/api/orders/", order), expected_status=201)
    return found


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_statements_per_command_stay_within_target(lab_world: World) -> None:
    # given one OPD visit run over HTTP, each user's second request (a warm session)
    # when each command kind is counted
    counts = _counts(lab_world)
    # then none exceeds its target
    over = {k: (counts[k], limit) for k, limit in REACHED.items() if counts[k] > limit}
    assert not over, f"over the limit (found, limit): {over}; all: {counts}; targets: {TARGETS}"


# An Idempotency-Key adds to a command: the key's lock and its claim looked up (one statement
# on PostgreSQL), the claim inserted with ON CONFLICT DO NOTHING, the command's own savepoint
# and its release (the request's transaction is the middleware's, and an error answer is stored
# and replayed, so the command must be able to roll back alone) and the response stored on the
# claim: 5 (before: 8, the lock and the lookup apart, and a savepoint around the claim INSERT).
# A replay is authentication, the lock-and-lookup and the stored response's read.
KEY_COSTS = {"first": 5, "replay": 3}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_idempotency_key_adds_five_statements_and_a_replay_costs_three(world: World) -> None:
    # given a warm session
    nurse = world.api("nurse")
    _register(nurse, "MRN-WARM")
    body = {"full_name": "Ada Lovelace", "mrn": "MRN-K", "date_of_birth": "1985-12-10"}
    plain, _ = _count(lambda: _register(nurse, "MRN-PLAIN"), expected_status=201)

    # when a registration is sent with a key, then again
    def keyed() -> Any:
        return nurse.post("/api/patients/", {**body, "gender": "F"}, {"Idempotency-Key": "k-1"})

    first, _ = _count(keyed, expected_status=201)
    replay, _ = _count(keyed, expected_status=201)
    # then the key costs what KEY_COSTS says, and the replay wrote nothing
    assert (first - plain, replay) == (KEY_COSTS["first"], KEY_COSTS["replay"])
