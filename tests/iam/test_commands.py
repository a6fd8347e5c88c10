"""Contract §10: `ensure_roles` and `bootstrap_demo` are idempotent and print what they did."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from hm_core.common.errors import ValidationFailed
from hm_core.iam.models import (
    Facility,
    FacilityMembership,
    Permission,
    Role,
    RolePermission,
    Tenant,
    User,
)
from hm_core.iam.permissions import ALL_DEFAULT_GRANTS, ALL_ROLES, PERMISSIONS
from hm_core.iam.services import user_ensure
from tests.patients.factories import patient_body

DEMO_PASSWORD = "demo-pass-4711"
DEMO_USERS = [
    "admin",
    "doctor",
    "nurse",
    "lab_tech",
    "receptionist",
    "billing_clerk",
    "auditor",
    "integration",
    "lab_tech2",
]


def _run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def _iam_counts() -> tuple[int, ...]:
    return (
        Role.objects.count(),
        Permission.objects.count(),
        RolePermission.objects.count(),
        Tenant.objects.count(),
        Facility.objects.count(),
        User.objects.count(),
        FacilityMembership.objects.count(),
        FacilityMembership.roles.through.objects.count(),
    )


# --- ensure_roles ---------------------------------------------------------------------------


def test_ensure_roles_creates_the_catalogue_once_and_then_changes_nothing(db):
    # when
    first = _run("ensure_roles")
    after_first = _iam_counts()
    second = _run("ensure_roles")

    # then
    assert set(Role.objects.values_list("code", flat=True)) == set(ALL_ROLES)
    assert set(Permission.objects.values_list("code", flat=True)) == set(PERMISSIONS)
    assert first[-1].startswith("ensure_roles: ")
    assert second == ["ensure_roles: 0 roles, 0 permissions, 0 grants created"]
    assert _iam_counts() == after_first


def test_ensure_roles_seeds_the_default_grants_of_a_tenant(world):
    granted = {
        (role, perm)
        for role, perm in RolePermission.objects.filter(tenant=world.tenant).values_list(
            "role__code", "permission__code"
        )
    }
    assert granted == {(role, code) for role, codes in ALL_DEFAULT_GRANTS.items() for code in codes}


def test_ensure_roles_does_not_re_add_a_grant_the_tenant_admin_removed(world):
    # given
    RolePermission.objects.filter(
        tenant=world.tenant, role__code="nurse", permission__code="patients.register"
    ).delete()
    before = _iam_counts()

    # when
    _run("ensure_roles")
    _run("ensure_roles")

    # then
    assert _iam_counts() == before
    assert not RolePermission.objects.filter(
        tenant=world.tenant, role__code="nurse", permission__code="patients.register"
    ).exists()
    assert world.api("nurse").post("/api/patients/", patient_body()).status_code == 403


def test_ensure_roles_grants_a_permission_that_is_new_to_the_catalogue(world, other_world):
    # given: a permission the database does not know yet (as after an upgrade)
    Permission.objects.filter(code="audit.verify").delete()

    # when
    lines = _run("ensure_roles")

    # then
    assert lines == ["ensure_roles: 0 roles, 1 permissions, 4 grants created"]
    for tenant in (world.tenant, other_world.tenant):
        roles = set(
            RolePermission.objects.filter(
                tenant=tenant, permission__code="audit.verify"
            ).values_list("role__code", flat=True)
        )
        assert roles == {"admin", "auditor"}


# --- bootstrap_demo -------------------------------------------------------------------------


def _bootstrap(*extra: str) -> tuple[dict, list[str]]:
    lines = _run("bootstrap_demo", "--tenant", "x", *extra)
    return json.loads(lines[-1]), lines


def test_bootstrap_demo_prints_the_tenant_facilities_and_users_as_its_last_line(db):
    # when
    summary, _ = _bootstrap("--password", DEMO_PASSWORD)

    # then
    assert set(summary) == {"tenant_id", "facilities", "users"}
    tenant = Tenant.objects.get(slug="x")
    assert summary["tenant_id"] == str(tenant.id)
    assert summary["facilities"] == {
        "main": str(Facility.objects.get(tenant=tenant, code="main").id),
        "annex": str(Facility.objects.get(tenant=tenant, code="annex").id),
    }
    assert summary["users"] == {name: f"{name}@x" for name in DEMO_USERS}


def test_bootstrap_demo_is_idempotent(db):
    # given
    first, _ = _bootstrap("--password", DEMO_PASSWORD)
    counts = _iam_counts()

    # when
    second, _ = _bootstrap("--password", DEMO_PASSWORD)

    # then
    assert second == first
    assert _iam_counts() == counts


def test_bootstrap_demo_memberships_admin_and_doctor_also_in_the_annex(db):
    # when
    summary, _ = _bootstrap("--password", DEMO_PASSWORD)

    # then
    for name, username in summary["users"].items():
        memberships = {
            m.facility.code: sorted(r.code for r in m.roles.all())
            for m in FacilityMembership.objects.filter(user__username=username, is_active=True)
        }
        role = "lab_tech" if name == "lab_tech2" else name
        expected = {"main": [role]}
        if name in ("admin", "doctor"):
            expected["annex"] = [role]
        assert memberships == expected, name


def test_bootstrap_demo_users_can_obtain_tokens_with_the_password(db):
    # given
    summary, _ = _bootstrap("--password", DEMO_PASSWORD)

    # when / then
    for username in summary["users"].values():
        response = Client().post(
            "/api/auth/token/",
            data={"username": username, "password": DEMO_PASSWORD},
            content_type="application/json",
        )
        assert response.status_code == 200, (username, response.content)
        me = Client().get(
            "/api/auth/me/", headers={"Authorization": f"Bearer {response.json()['access']}"}
        )
        assert {m["tenant_id"] for m in me.json()["memberships"]} == {summary["tenant_id"]}


def test_bootstrap_demo_users_can_work_in_their_facility(db):
    summary, _ = _bootstrap("--password", DEMO_PASSWORD)
    token = Client().post(
        "/api/auth/token/",
        data={"username": "receptionist@x", "password": DEMO_PASSWORD},
        content_type="application/json",
    )
    headers = {
        "Authorization": f"Bearer {token.json()['access']}",
        "X-Tenant-ID": summary["tenant_id"],
        "X-Facility-ID": summary["facilities"]["main"],
    }

    response = Client().get("/api/patients/", headers=headers)

    assert response.status_code == 200, response.content


def test_bootstrap_demo_takes_the_password_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("HM_DEMO_PASSWORD", "from-the-env-123")

    summary, _ = _bootstrap()

    assert User.objects.get(username=summary["users"]["nurse"]).check_password("from-the-env-123")


def test_bootstrap_demo_without_a_password_prints_a_generated_one_once(db, monkeypatch):
    # given
    monkeypatch.delenv("HM_DEMO_PASSWORD", raising=False)

    # when
    _, lines = _bootstrap()
    _, again = _bootstrap()

    # then
    header = lines[0]
    generated = header.removeprefix("Demo users (password: ").removesuffix("):")
    assert generated and generated != header
    assert User.objects.get(username="doctor@x").check_password(generated)
    assert "unchanged" in again[0]
    assert User.objects.get(username="doctor@x").check_password(generated)


@pytest.mark.parametrize("slug", ["demo", "x"])
def test_bootstrap_demo_tenants_are_separate(db, slug):
    _run("bootstrap_demo", "--tenant", "other", "--password", DEMO_PASSWORD)

    summary = json.loads(_run("bootstrap_demo", "--tenant", slug, "--password", DEMO_PASSWORD)[-1])

    assert summary["users"]["admin"] == f"admin@{slug}"
    assert Tenant.objects.count() == 2


@pytest.mark.parametrize("password", ["a", "password", "12345678"])
def test_bootstrap_demo_refuses_a_password_the_validators_refuse(db, password):
    # when
    with pytest.raises(CommandError, match="AUTH_PASSWORD_VALIDATORS"):
        _run("bootstrap_demo", "--tenant", "weak", "--password", password)

    # then: nothing was created
    assert not User.objects.filter(username__endswith="@weak").exists()


def test_bootstrap_demo_refuses_a_weak_password_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("HM_DEMO_PASSWORD", "short")

    with pytest.raises(CommandError, match="too short"):
        _run("bootstrap_demo", "--tenant", "weak")


def test_setting_a_weak_password_through_the_service_is_422(db):
    with pytest.raises(ValidationFailed) as caught:
        user_ensure(username="weak@x", full_name="Weak", password="a")

    assert caught.value.status == 422
    assert caught.value.details[0]["field"] == "password"
    assert not User.objects.filter(username="weak@x").exists()


def test_migration_0004_gives_seeded_tenants_the_patients_appointment_grants(world):
    # given: a tenant seeded before the patient role could book (its grants lack them)
    from importlib import import_module

    from django.apps import apps

    migration = import_module("hm_core.iam.migrations.0004_patient_appointment_grants")
    theirs = RolePermission.objects.filter(tenant=world.tenant, role__code="patient")
    theirs.filter(permission__code__startswith="appointments.").delete()
    theirs.filter(permission__code="results.view").delete()  # an admin's own change

    # when
    migration.grant(apps, None)

    # then: the three scheduling grants are back, the admin's removal is kept
    codes = set(theirs.values_list("permission__code", flat=True))
    assert codes == {
        "patients.view",
        "encounters.view",
        "appointments.view",
        "appointments.book",
        "appointments.manage",
    }
