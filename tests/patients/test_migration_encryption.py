"""Existing databases keep working (contract §18): the 0005 migration encrypts the plaintext
columns of existing rows, and version-2 events still replay (upcast to encrypted version 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from hm_core.common.crypto import blind_index, is_encrypted
from hm_core.patients.models import Patient

BEFORE = [("patients", "0004_structured_demographics"), ("timeline", "0001_initial")]
AFTER = [("patients", "0005_encrypted_fields"), ("timeline", "0001_initial")]


def _migrate(targets):
    """Migrate to targets; None means every app's latest migration (the schema other tests use)."""
    executor = MigrationExecutor(connection)
    if targets is None:
        targets = executor.loader.graph.leaf_nodes()
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_migration_encrypts_existing_rows_and_keeps_them_searchable():
    # given: a row as the previous schema stored it, in plaintext
    old_apps = _migrate(BEFORE)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    patient_id = uuid.uuid4()
    old_apps.get_model("patients", "Patient")._base_manager.create(
        id=patient_id,
        tenant_id=uuid.uuid4(),
        facility_id=uuid.uuid4(),
        mrn="OLD-7",
        full_name="Olga Old",
        family_name="Old",
        given_name="Olga",
        date_of_birth=date(1970, 1, 1),
        gender="F",
        phone="+1 555 0777",
        email="olga@example.org",
        national_id="AB 12 34",
        address_line1="7 Old Road",
        address_city="Oldtown",
        address_country="GB",
        version=1,
        created_at=now,
        updated_at=now,
    )

    try:
        # when
        _migrate(AFTER)

        # then
        row = Patient.all_tenants.get(id=patient_id)
        assert all(
            is_encrypted(getattr(row, f"{n}_encrypted"))
            for n in ("phone", "email", "national_id", "address")
        )
        assert (row.phone, row.email, row.national_id) == (
            "+1 555 0777",
            "olga@example.org",
            "AB 12 34",
        )
        assert row.address == {
            "line1": "7 Old Road",
            "line2": "",
            "city": "Oldtown",
            "state": "",
            "postal_code": "",
            "country": "GB",
        }
        assert row.phone_index == blind_index("phone", "+1 555 0777")
        assert row.national_id_index == blind_index("national_id", "AB1234")
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM patients_patient WHERE id = %s", [patient_id])
            assert "olga@example.org" not in repr(cursor.fetchall())
    finally:
        # back to the latest schema: later tests on this worker need 0006's tables
        _migrate(None)
        Patient.all_tenants.filter(id=patient_id).delete()
