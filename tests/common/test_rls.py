"""Contract §18: row-level security on PostgreSQL. Under DB_APP_ROLE a query that forgets its
tenant filter sees nothing of another tenant, and with no tenant set no tenant rows at all."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from hm_core.audit import trail
from hm_core.audit.models import AuditRecord, AuditTrailLink
from hm_core.common import rls
from hm_core.common.scope import scope_active, unscoped
from hm_core.events.models import Event, TenantEventHead
from hm_core.iam.models import Facility, FacilityMembership
from hm_core.patients.models import Patient
from tests.patients.factories import register_patient

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "hm_core.common.pg",
    reason="row-level security is PostgreSQL's; SQLite keeps the scoped managers",
)


@pytest.fixture
def two_tenants(world, other_world):
    mine = register_patient(world.api(), full_name="Ann Mine")
    theirs = register_patient(other_world.api(), full_name="Rita Rival")
    return mine, theirs


def _session() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_setting('app.tenant_id', true)")
        return cursor.fetchone()


# --- the schema ------------------------------------------------------------------------------


def test_every_table_with_a_tenant_id_has_rls_enabled_forced_and_the_tenant_policy(db):
    with connection.cursor() as cursor:
        tables = rls.tenant_tables(cursor)

    assert len(tables) >= 25  # every module's read models, the events, iam, interop...
    lacking = [t["table"] for t in tables if not (t["enabled"] and t["forced"] and t["policy"])]
    assert lacking == [], f"tables with tenant_id but no RLS: {lacking}"


def test_the_app_role_owns_nothing_bypasses_nothing_and_is_no_superuser(db):
    role = settings.DB_APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole FROM pg_roles "
            "WHERE rolname = %s",
            [role],
        )
        assert cursor.fetchone() == (False, False, False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = %s",
            [role],
        )
        assert cursor.fetchone()[0] == 0


def test_a_table_added_later_by_another_module_is_secured_by_the_next_migrate(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE later_module_thing (id int PRIMARY KEY, tenant_id uuid)")

    secured = rls.apply_policies()

    assert secured == ["later_module_thing"]
    with connection.cursor() as cursor:
        [later] = [t for t in rls.tenant_tables(cursor) if t["table"] == "later_module_thing"]
    assert later["enabled"] and later["forced"] and later["policy"]
    assert rls.apply_policies() == []  # idempotent


# --- what the role sees ----------------------------------------------------------------------


def test_with_a_tenant_set_a_query_without_a_tenant_filter_sees_only_that_tenant(
    world, other_world, two_tenants
):
    mine, theirs = two_tenants

    with rls.tenant(world.tenant.id):
        assert _session() == (settings.DB_APP_ROLE, str(world.tenant.id))
        patients = {str(p.id) for p in Patient.all_tenants.all()}  # no tenant filter
        event_tenants = set(Event.objects.values_list("tenant_id", flat=True))
        heads = list(TenantEventHead.objects.values_list("tenant_id", flat=True))
        facilities = set(Facility.objects.values_list("tenant_id", flat=True))
        by_id = Patient.all_tenants.filter(id=theirs["id"]).exists()

    assert patients == {mine["id"]}
    assert event_tenants == {world.tenant.id}
    assert heads == [world.tenant.id]
    assert facilities == {world.tenant.id}
    assert by_id is False


def test_with_no_tenant_set_the_role_sees_no_tenant_rows_at_all(world, two_tenants):
    with rls.no_tenant():
        assert _session() == (settings.DB_APP_ROLE, "")
        assert Patient.all_tenants.count() == 0
        assert Event.objects.count() == 0
        assert FacilityMembership.objects.count() == 0


def test_the_system_path_sees_every_tenant_and_says_why(world, other_world, two_tenants):
    with unscoped("test: the connecting user's cross-tenant path"):
        assert _session()[0] != settings.DB_APP_ROLE
        assert Patient.all_tenants.count() == 2
    with pytest.raises(ValueError, match="reason"):
        rls.system("")


def test_scope_active_runs_as_the_role_with_the_scopes_tenant(world):
    with scope_active(world.scope()):
        assert _session() == (settings.DB_APP_ROLE, str(world.tenant.id))
    assert _session()[0] != settings.DB_APP_ROLE  # restored outside


def test_the_role_cannot_write_a_row_of_another_tenant(world, other_world, two_tenants):
    mine, _ = two_tenants
    patient = Patient.all_tenants.get(id=mine["id"])

    with (
        rls.tenant(other_world.tenant.id),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
    ):
        Patient.all_tenants.create(
            **{
                f.attname: getattr(patient, f.attname)
                for f in Patient._meta.concrete_fields
                if f.attname != "id"
            }
        )
    with rls.tenant(other_world.tenant.id):
        assert Patient.all_tenants.filter(id=patient.id).update(mrn="X") == 0  # invisible


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events_event SET type = 'x'",
        "DELETE FROM events_event",
        "TRUNCATE events_event",
        "ALTER TABLE events_event DISABLE TRIGGER events_event_immutable",
        "DROP TRIGGER events_event_immutable ON events_event",
    ],
)
def test_the_role_cannot_change_events_nor_their_trigger(world, two_tenants, statement):
    with (
        rls.tenant(world.tenant.id),
        pytest.raises(DatabaseError, match=r"permission denied|must be owner"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditrecord SET action = 'x'",
        "DELETE FROM audit_auditrecord",
        "TRUNCATE audit_auditrecord",
        "ALTER TABLE audit_auditrecord DISABLE TRIGGER audit_auditrecord_append_only",
        "DROP TRIGGER audit_auditrecord_append_only ON audit_auditrecord",
        "UPDATE audit_audittraillink SET hash = 'x'",
        "DELETE FROM audit_audittraillink",
        "TRUNCATE audit_audittraillink",
        "ALTER TABLE audit_audittraillink DISABLE TRIGGER audit_audittraillink_append_only",
        "DROP TRIGGER audit_audittraillink_append_only ON audit_audittraillink",
        "DROP FUNCTION hm_audit_append_only() CASCADE",
        "CREATE OR REPLACE FUNCTION hm_audit_append_only() RETURNS trigger AS "
        "$$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
    ],
)
def test_the_role_cannot_change_phi_read_records_their_trail_nor_their_triggers(
    world, two_tenants, statement
):
    # given the tenant's PHI reads, sealed into its audit trail
    api = world.api("doctor")
    assert api.get(f"/api/patients/{two_tenants[0]['id']}/").status_code == 200
    with rls.tenant(world.tenant.id):
        trail.seal(world.tenant.id)
        before = (AuditRecord.all_tenants.count(), AuditTrailLink.objects.count())
    assert AuditRecord.all_tenants.filter(kind="read", tenant_id=world.tenant.id).exists()

    # when / then
    with (
        rls.tenant(world.tenant.id),
        pytest.raises(DatabaseError, match=r"permission denied|must be owner"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    with rls.tenant(world.tenant.id):
        assert (AuditRecord.all_tenants.count(), AuditTrailLink.objects.count()) == before
        assert trail.verify(world.tenant.id).ok


# --- requests ----------------------------------------------------------------------------------


def test_a_request_runs_as_the_role_under_its_scope_and_ends_restored(world, monkeypatch):
    seen = []
    from hm_core.patients import services

    original = services.patient_register

    def spy(*args, **kwargs):
        seen.append(_session())
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "patient_register", spy)
    register_patient(world.api())

    assert seen == [(settings.DB_APP_ROLE, str(world.tenant.id))]
    assert _session()[0] != settings.DB_APP_ROLE


def test_a_scope_naming_a_tenant_without_membership_is_refused(world, other_world):
    api = world.api()
    api.headers["X-Tenant-ID"] = str(other_world.tenant.id)
    api.headers["X-Facility-ID"] = str(other_world.main.id)

    response = api.get("/api/patients/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_forbidden"


# --- searches under RLS use their indexes ----------------------------------------------------


@pytest.fixture
def many_patients(world):
    """4,000 read-model rows of one tenant (written directly: only the plans matter here), so
    that reading the tenant costs the planner more than a trigram index lookup."""
    import hashlib
    from datetime import date

    from hm_core.common.time import utcnow

    now = utcnow()
    rows = [
        Patient(
            tenant_id=world.tenant.id,
            facility_id=world.main.id,
            mrn=f"PLAN-{i:05d}",
            full_name=f"Plan {hashlib.sha256(str(i).encode()).hexdigest()[:12]}",
            date_of_birth=date(1980, 1, 1),
            gender="F",
            version=1,
            created_at=now,
            updated_at=now,
        )
        for i in range(4000)
    ]
    with unscoped("test: bulk rows for the planner"), connection.cursor() as cursor:
        Patient.all_tenants.bulk_create(rows)
        # New rows wait in the GIN index's pending list (scanned whole), as before a VACUUM.
        cursor.execute("SELECT gin_clean_pending_list('patients_name_trgm')")
        cursor.execute("ANALYZE patients_patient")


def _search_plan(world, term: str) -> str:
    """The plan of a name search as the application runs it: under the tenant's RLS."""
    with scope_active(world.scope()), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # left: the tenant's index or trigrams
        return Patient.all_tenants.filter(full_name__icontains=term).explain()


def _set_leakproof(leakproof: bool) -> None:
    mark = "LEAKPROOF" if leakproof else "NOT LEAKPROOF"
    with unscoped("test: a superuser marks the search functions"), connection.cursor() as cursor:
        for function in rls.SEARCH_FUNCTIONS:
            cursor.execute(f"ALTER FUNCTION pg_catalog.{function} {mark}")


def test_migrate_marks_the_search_functions_leakproof_and_the_check_is_quiet(db):
    with connection.cursor() as cursor:
        assert rls.leaky_search_functions(cursor) == []
    assert rls.check_search_functions(databases=["default"]) == []


def test_a_name_search_under_rls_uses_the_trigram_index(world, many_patients, monkeypatch):
    # given the search functions as migrate leaves them (LEAKPROOF)
    plan = _search_plan(world, "ac674216")
    assert "patients_name_trgm" in plan, plan
    # when they are not LEAKPROOF (a restored dump, a database whose owner is no superuser)
    _set_leakproof(False)  # undone with the test's transaction
    leaky = _search_plan(world, "ac674216")
    warned_superuser = rls.check_search_functions(databases=["default"])
    monkeypatch.setattr(rls, "is_superuser", lambda cursor: False)  # a managed database's owner
    warnings = rls.check_search_functions(databases=["default"])
    monkeypatch.undo()
    # then the policy runs first and the search reads the table; the check says so
    assert "patients_name_trgm" not in leaky, leaky
    assert [w.id for w in warnings] == ["hm_core.W001"]
    assert warned_superuser == []  # a superuser's next migrate marks them: nothing to say
    # and the next migrate's post_migrate marks them again
    assert rls.mark_search_functions_leakproof() == []
    assert "patients_name_trgm" in _search_plan(world, "ac674216")


def test_an_mrn_lookup_and_a_family_prefix_under_rls_use_their_indexes(world, many_patients):
    from hm_core.patients.selectors import mrn_equals

    with scope_active(world.scope()), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        by_mrn = Patient.all_tenants.filter(mrn_equals("PLAN-01234")).explain()
        by_family = Patient.all_tenants.filter(family_name__istartswith="Zed").explain()
    # HL7 PID-3 and FHIR `identifier` lookups, FHIR `family`/`given`/`name` prefixes
    assert "patients_mrn_prefix" in by_mrn, by_mrn
    assert "patients_family_name_prefix" in by_family, by_family
