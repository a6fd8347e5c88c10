"""Issue 11 / contract §18: a real `pg_dump` of the database holds none of a registered patient's
phone, email, address, national id or coverage member id in clear, while the API returns them
and search by them works."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from tests.patients.factories import register_patient

SECRETS = {
    "phone": "+41 44 987 65 43",
    "email": "zelda.quist@example.org",
    "national_id": "756.1234.5678.97",
}
ADDRESS = {
    "line1": "Bahnhofstrasse 99",
    "line2": "Hinterhaus",
    "city": "Winterthur",
    "state": "",
    "postal_code": "8400",
    "country": "CH",
}
MEMBER_ID = "ZQ-MEMBER-4471902"
# The values, and the forms a search normalises them to (digits, lower case).
IN_CLEAR = [
    *SECRETS.values(),
    "41449876543",
    "987 65 43",
    "zelda.quist",
    "7561234567897",
    "Bahnhofstrasse",
    "Hinterhaus",
    "Winterthur",
    MEMBER_ID,
    "4471902",
]


def _pg_dump() -> str:
    binary = shutil.which("pg_dump")
    if binary is None:
        pytest.skip("pg_dump is not installed (PostgreSQL's client)")
    db = connection.settings_dict
    command = [binary, "--no-owner", "--dbname", db["NAME"]]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            command += [flag, str(db[key])]
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    done = subprocess.run(command, capture_output=True, env=env, check=True, timeout=120)  # noqa: S603
    return done.stdout.decode("utf-8", errors="replace")


def _patient_with_everything(world: Any) -> dict[str, Any]:
    patient = register_patient(world.api(), full_name="Zelda Quist", **SECRETS, address=ADDRESS)
    payer = world.api("admin").post(
        "/api/billing/payers/", {"name": "Helvetia plan", "payer_code": "HELV", "kind": "insurer"}
    )
    assert payer.status_code == 201, payer.content
    coverage = world.api("billing_clerk").post(
        f"/api/patients/{patient['id']}/coverages/",
        {
            "payer": payer.json()["id"],
            "member_id": MEMBER_ID,
            "relationship": "self",
            "valid_from": "2020-01-01",
            "priority": 1,
        },
    )
    assert coverage.status_code == 201, coverage.content
    return patient


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_holds_no_clear_phi_while_the_api_returns_it_and_finds_by_it(world):
    # given a patient with every protected field, read (PHI-read records) and checkpointed
    patient = _patient_with_everything(world)
    doctor = world.api("doctor")
    shown = doctor.get(f"/api/patients/{patient['id']}/").json()
    assert doctor.get(f"/api/patients/{patient['id']}/timeline/").status_code == 200
    call_command("checkpoint_chain")

    # when a backup is taken with the PostgreSQL client
    dump = _pg_dump()

    # then the dump read the rows, and no protected value is in it in clear
    assert "Zelda Quist" in dump  # the name is not a §18 field: the rows are there
    assert "COPY public.patients_patient" in dump
    leaked = [value for value in IN_CLEAR if value in dump]
    assert leaked == []
    # while the API shows them to the authorised user
    assert {key: shown[key] for key in SECRETS} == SECRETS
    assert shown["address"] == ADDRESS
    coverages = world.api("billing_clerk").get(f"/api/patients/{patient['id']}/coverages/")
    assert [c["member_id"] for c in coverages.json()["items"]] == [MEMBER_ID]
    # and finds the patient by each searchable one
    for params in (
        {"phone": "+41-44-987-65-43"},
        {"email": "Zelda.Quist@example.org"},
        {"national_id": "756 1234 5678 97"},
    ):
        found = world.api("nurse").get("/api/patients/", params).json()["items"]
        assert [item["id"] for item in found] == [patient["id"]], params
