"""Authentication's one-statement principal agrees with the principal read step by step."""

from __future__ import annotations

import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.common import rls
from hm_core.iam.models import Facility, FacilityMembership, Role
from hm_core.iam.selectors import principal_in_facility, user_and_principal
from tests.conftest import World


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
