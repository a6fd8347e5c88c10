"""Issue 11 item 6: a read-model row edited by hand is found by rebuilding the tenant's read
models into scratch tables and comparing; an untouched tenant reports nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from hm_core.common import rls
from hm_core.common.crypto import encrypt_field
from hm_core.events.projection_check import verify_projections
from hm_core.patients.models import Patient
from tests.events.test_rebuild import run_workload
from tests.patients.factories import register_patient

VERIFY_URL = "/api/audit/verify/"


@pytest.fixture
def patients(world, other_world):
    run_workload(world, seed=11, visits=6)  # patients, encounters, vitals, tasks, alerts
    mine = register_patient(world.api(), full_name="Ann Mine", phone="+44 20 7946 0018")
    theirs = register_patient(other_world.api(), full_name="Rita Rival")
    return mine, theirs


def _by_hand(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _id(value: str) -> str:
    return value if connection.vendor == "postgresql" else value.replace("-", "")


def test_an_untouched_tenant_reports_nothing(world, patients):
    report = verify_projections(world.tenant.id)

    assert report.ok, report.differences
    assert report.differences == [] and report.differences_total == 0
    assert report.rows_checked >= 30 and report.events_replayed > 0
    assert report.tables_checked >= 20


def test_a_full_name_changed_by_hand_is_found_and_only_for_its_tenant(world, other_world, patients):
    # given an edit of this tenant's patient and one of the other tenant's
    mine, theirs = patients
    _by_hand("UPDATE patients_patient SET full_name = 'Mallory' WHERE id = %s", [_id(mine["id"])])
    _by_hand("UPDATE patients_patient SET mrn = 'X-1' WHERE id = %s", [_id(theirs["id"])])

    # when
    report = verify_projections(world.tenant.id)

    # then
    assert not report.ok
    assert report.differences == [
        {
            "table": "patients_patient",
            "pk": mine["id"],
            "difference": "changed",
            "fields": ["full_name"],
        }
    ]
    other = verify_projections(other_world.tenant.id)
    assert [(d["pk"], d["fields"]) for d in other.differences] == [(theirs["id"], ["mrn"])]


def test_the_check_leaves_the_live_tables_as_they_were(world, patients):
    mine, _ = patients
    _by_hand("UPDATE patients_patient SET full_name = 'Mallory' WHERE id = %s", [_id(mine["id"])])
    count = Patient.all_tenants.count()

    verify_projections(world.tenant.id)

    assert Patient.all_tenants.count() == count  # no scratch table left hiding the live one
    assert Patient.all_tenants.get(id=mine["id"]).full_name == "Mallory"  # reported, not repaired


def test_a_deleted_row_is_missing_and_a_forged_encrypted_field_is_changed(world, patients):
    # given another phone sealed into one patient's row, and one patient's timeline deleted
    mine, _ = patients
    other = Patient.all_tenants.filter(tenant_id=world.tenant.id).exclude(id=mine["id"]).first()
    _by_hand(
        "UPDATE patients_patient SET phone_encrypted = %s WHERE id = %s",
        [encrypt_field("+1 555 0000"), _id(mine["id"])],
    )
    _by_hand("DELETE FROM timeline_timelineentry WHERE patient_id = %s", [_id(str(other.id))])

    # when
    report = verify_projections(world.tenant.id)

    # then
    kinds = {(d["table"], d["difference"]) for d in report.differences}
    assert kinds == {("patients_patient", "changed"), ("timeline_timelineentry", "missing")}
    [patient_diff] = [d for d in report.differences if d["table"] == "patients_patient"]
    assert patient_diff["fields"] == ["phone_encrypted"]


def test_a_token_re_encrypted_with_the_same_value_is_no_difference(world, patients):
    # as `rotate_field_keys` leaves a read model: other bytes, same plaintext
    mine, _ = patients
    _by_hand(
        "UPDATE patients_patient SET phone_encrypted = %s WHERE id = %s",
        [encrypt_field(mine["phone"]), _id(mine["id"])],
    )

    assert verify_projections(world.tenant.id).ok


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the role and row-level security are PostgreSQL's"
)
def test_under_the_app_role_the_check_sees_its_tenant_only(world, other_world, patients):
    mine, _ = patients
    _by_hand("UPDATE patients_patient SET full_name = 'Mallory' WHERE id = %s", [mine["id"]])

    with rls.tenant(other_world.tenant.id):
        assert verify_projections(other_world.tenant.id).ok
    with rls.tenant(world.tenant.id):
        report = verify_projections(world.tenant.id)
    assert [d["pk"] for d in report.differences] == [mine["id"]]


# --- the API flag and the command ----------------------------------------------------------


def test_verify_reports_the_read_models_only_when_asked(world, patients):
    mine, _ = patients
    _by_hand("UPDATE patients_patient SET full_name = 'Mallory' WHERE id = %s", [_id(mine["id"])])
    auditor = world.api("auditor")

    plain = auditor.get(VERIFY_URL).json()
    checked = auditor.get(VERIFY_URL, {"projections": "true"}).json()

    assert plain["ok"] is True and plain["projections"] is None
    assert checked["ok"] is False  # the events are intact; a read model is not
    assert checked["first_broken"] is None
    assert checked["projections"]["ok"] is False
    assert checked["projections"]["differences_total"] == 1
    assert checked["projections"]["differences"] == [
        {
            "table": "patients_patient",
            "pk": mine["id"],
            "difference": "changed",
            "fields": ["full_name"],
        }
    ]


def test_the_command_names_each_differing_row_and_fails(world, other_world, patients, capsys):
    mine, _ = patients
    call_command("verify_projections", "--tenant", "rival")  # untouched: exits normally
    _by_hand("UPDATE patients_patient SET full_name = 'Mallory' WHERE id = %s", [_id(mine["id"])])

    with pytest.raises(CommandError, match="1 tenant"):
        call_command("verify_projections")

    out = capsys.readouterr().out
    assert f"patients_patient {mine['id']} changed: full_name" in out
    assert "rival: ok" in out


def test_a_rollup_row_is_compared_on_its_day_and_dimensions_not_its_counter(world, patients):
    # given the reports' per-day rollups (a counter primary key a rebuild numbers anew), one of
    # them inflated by hand
    from hm_core.reports.models import OpdDay

    row = OpdDay.all_tenants.filter(tenant_id=world.tenant.id).order_by("day").first()
    assert row is not None
    _by_hand("UPDATE reports_opdday SET encounters = encounters + 5 WHERE id = %s", [row.id])

    # when
    report = verify_projections(world.tenant.id)

    # then exactly that row is reported, by its identity, with the edited count
    key = "/".join(map(str, (row.tenant_id, row.facility_id, row.day, row.practitioner_id)))
    assert report.differences == [
        {"table": "reports_opdday", "pk": key, "difference": "changed", "fields": ["encounters"]}
    ]
