"""Authentication's one-statement principal agrees with the principal read step by step, and
its statement compiled once per process agrees with the ORM's queryset."""

from __future__ import annotations

import uuid
from unittest.mock import patch

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext

from hm_core.common import rls
from hm_core.iam.models import Facility, FacilityMembership, Role, RolePermission, User
from hm_core.iam.selectors import (
    facility_time_zone,
    principal_from_rows,
    principal_in_facility,
    principal_rows,
    user_and_principal,
)
from hm_core.iam.services import membership_grant
from tests.conftest import World
from tests.factories import UserFactory


def _both(world: World, role: str, facility: Facility) -> tuple[object, object, int]:
    user = world.users[role]
    with rls.system("test: both readings"), CaptureQueriesContext(connection) as queries:
        found, principal = user_and_principal(
            user_id=user.id, tenant_id=world.tenant.id, facility_id=facility.id
        )
    with rls.system("test: both readings"):
        expected = principal_in_facility(
            user=user, tenant_id=world.tenant.id, facility_id=facility.id
        )
    assert found is None or found.pk == user.pk
    return principal, expected, len(queries)


def test_user_and_principal_equals_the_step_by_step_principal_in_one_query(world):
    # given a doctor with memberships of both facilities, a nurse of the main one only
    # when each is resolved both ways, then they agree, in one statement each
    for role, facility in (("doctor", world.main), ("doctor", world.annex), ("nurse", world.main)):
        principal, expected, queries = _both(world, role, facility)
        assert principal == expected
        assert principal is not None and principal.permissions
        assert queries == 1


def test_user_and_principal_refuses_what_the_step_by_step_reading_refuses(world):
    # given: a nurse without an annex membership; a lab tech whose membership lost its roles;
    # a doctor whose annex facility closed; an admin whose main membership was revoked
    FacilityMembership.objects.get(user=world.users["lab_tech"], facility=world.main).roles.set(
        Role.objects.none()
    )
    Facility.objects.filter(id=world.annex.id).update(is_active=False)
    FacilityMembership.objects.filter(user=world.users["admin"], facility=world.main).update(
        is_active=False
    )
    # when / then
    assert _both(world, "nurse", world.annex)[:2] == (None, None)
    no_roles, expected, _ = _both(world, "lab_tech", world.main)
    assert no_roles == expected and no_roles is not None
    assert no_roles.roles == frozenset() and no_roles.permissions == frozenset()
    assert _both(world, "doctor", world.annex)[:2] == (None, None)
    assert _both(world, "admin", world.main)[:2] == (None, None)


def test_user_and_principal_of_an_inactive_or_unknown_user_is_none(world):
    # given
    nurse = world.users["nurse"]
    nurse.is_active = False
    nurse.save(update_fields=["is_active"])
    # when / then
    with rls.system("test: inactive user"):
        for user_id in (nurse.id, uuid.uuid4()):
            found = user_and_principal(
                user_id=user_id, tenant_id=world.tenant.id, facility_id=world.main.id
            )
            assert found == (None, None)


def _by_orm(user_id: object, tenant_id: uuid.UUID, facility_id: uuid.UUID) -> tuple:
    """`user_and_principal` through the ORM: the queryset compiled on every call."""
    rows = list(principal_rows(user_id=user_id, tenant_id=tenant_id, facility_id=facility_id))
    return principal_from_rows(rows, tenant_id=tenant_id)


def _fields(user: User | None) -> dict[str, object] | None:
    """What a caller of `user_and_principal` may read of the user: its stored fields."""
    if user is None:
        return None
    return {f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields}


def _assert_compiled_equals_orm(user_id: object, tenant_id: uuid.UUID, facility: Facility) -> tuple:
    with CaptureQueriesContext(connection) as queries:
        user, principal = user_and_principal(
            user_id=user_id, tenant_id=tenant_id, facility_id=facility.id
        )
    orm_user, orm_principal = _by_orm(user_id, tenant_id, facility.id)
    assert len(queries) == 1
    assert principal == orm_principal
    assert _fields(user) == _fields(orm_user)
    return user, principal


def test_the_compiled_statement_returns_what_the_orm_returns_in_one_statement(world, other_world):
    # given: a doctor who also nurses in main, a nurse whose doctor role has no grants in the
    # annex's tenant, an inactive user, a revoked membership, a closed facility, a patient
    # account of this tenant and one of another tenant, a user with no membership at all
    doctor, nurse, admin = world.users["doctor"], world.users["nurse"], world.users["admin"]
    membership_grant(user=doctor, facility=world.main, roles=["nurse"])
    RolePermission.objects.filter(tenant=other_world.tenant, role__code="nurse").delete()
    membership_grant(user=nurse, facility=other_world.main, roles=["nurse"])
    inactive = world.users["lab_tech2"]
    User.objects.filter(id=inactive.id).update(is_active=False)
    FacilityMembership.objects.filter(user=admin, facility=world.main).update(is_active=False)
    Facility.objects.filter(id=world.annex.id).update(is_active=False)
    patient = UserFactory(username="own@acme", home_tenant=world.tenant, patient_id=uuid.uuid4())
    membership_grant(user=patient, facility=world.main, roles=["patient"])
    visitor = UserFactory(username="visitor@rival", home_tenant=other_world.tenant)
    visitor.patient_id = uuid.uuid4()
    visitor.save(update_fields=["patient_id"])
    membership_grant(user=visitor, facility=world.main, roles=["patient"])
    stranger = UserFactory(username="stranger")
    cases = [
        (doctor.id, world.tenant.id, world.main, "found"),  # several roles
        (str(doctor.id), world.tenant.id, world.main, "found"),  # the token's string id
        (nurse.id, other_world.tenant.id, other_world.main, "found"),  # no grants
        (patient.id, world.tenant.id, world.main, "found"),
        (visitor.id, world.tenant.id, world.main, "found"),
        (doctor.id, world.tenant.id, world.annex, "no principal"),  # closed facility
        (admin.id, world.tenant.id, world.main, "no principal"),  # revoked membership
        (nurse.id, world.tenant.id, world.annex, "no principal"),  # no membership there
        (doctor.id, other_world.tenant.id, world.main, "no principal"),  # facility elsewhere
        (stranger.id, world.tenant.id, world.main, "no principal"),
        (inactive.id, world.tenant.id, world.main, "nothing"),
        (uuid.uuid4(), world.tenant.id, world.main, "nothing"),
    ]
    # when / then: each case both ways, agreeing, in one statement
    found = []
    with rls.system("test: the compiled statement against the ORM"):
        for user_id, tenant_id, facility, expected in cases:
            user, principal = _assert_compiled_equals_orm(user_id, tenant_id, facility)
            outcome = (
                "nothing" if user is None else "no principal" if principal is None else "found"
            )
            assert outcome == expected, (user_id, facility)
            found.append(principal)
    several_roles, no_grants, own_patient, visiting_patient = found[0], found[2], found[3], found[4]
    assert several_roles.roles == {"doctor", "nurse"} and not several_roles.restricted
    assert no_grants.roles == {"nurse"} and no_grants.permissions == frozenset()
    assert own_patient.restricted and own_patient.patient_id == patient.patient_id
    assert visiting_patient.restricted and visiting_patient.patient_id is None


def test_the_compiled_statement_refuses_a_malformed_user_id_as_the_orm_does(world):
    with rls.system("test: malformed id"):
        with pytest.raises(ValidationError):
            _by_orm("not-a-uuid", world.tenant.id, world.main.id)
        with pytest.raises(ValidationError):
            user_and_principal(
                user_id="not-a-uuid", tenant_id=world.tenant.id, facility_id=world.main.id
            )


def test_the_compiled_statement_runs_under_the_requests_row_level_security(world, other_world):
    # given: the doctor's membership of main, read as the API reads it (its tenant entered),
    # as another tenant's request, and before any scope
    doctor = world.users["doctor"]
    states = {
        "own tenant": rls.tenant(world.tenant.id),
        "other tenant": rls.tenant(other_world.tenant.id),
        "no tenant": rls.no_tenant(),
    }
    # when
    found = {}
    for name, state in states.items():
        with state:
            found[name] = _assert_compiled_equals_orm(doctor.id, world.tenant.id, world.main)[1]
    # then: PostgreSQL hides the membership from any other state (SQLite has no RLS)
    assert found["own tenant"] is not None
    hidden = rls.enabled()
    assert (found["other tenant"] is None) == hidden
    assert (found["no tenant"] is None) == hidden


def test_facility_time_zone_answers_as_the_orm_in_one_statement_compiled_once(world, other_world):
    # given a zone set on the annex, none on main
    Facility.objects.filter(id=world.annex.id).update(time_zone="Africa/Nairobi")
    cases = [
        (world.tenant.id, world.annex.id, "Africa/Nairobi"),
        (world.tenant.id, world.main.id, "UTC"),
        (other_world.tenant.id, world.annex.id, "UTC"),  # another tenant's facility
        (world.tenant.id, uuid.uuid4(), "UTC"),
    ]
    facility_time_zone(tenant_id=world.tenant.id, facility_id=world.main.id)
    # when / then: each case in one statement, nothing compiled, as the ORM reads it
    with (
        rls.system("test: facility zones"),
        patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")),
    ):
        for tenant_id, facility_id, expected in cases:
            with CaptureQueriesContext(connection) as queries:
                zone = facility_time_zone(tenant_id=tenant_id, facility_id=facility_id)
            assert (zone, len(queries)) == (expected, 1)
