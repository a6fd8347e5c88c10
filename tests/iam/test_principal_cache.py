"""The principal cache (issue 10 item 3): authentication costs no query on a hit, and the
`iam.*` events orphan the entries they make stale, whatever token they were cached under."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from ninja_jwt.tokens import AccessToken

from hm_core.common.errors import ScopeForbidden
from hm_core.common.scope import RequestContext, Scope
from hm_core.iam import lifecycle
from hm_core.iam.auth import scope_auth, user_auth
from hm_core.iam.errors import TokenInvalid
from hm_core.iam.models import FacilityMembership
from hm_core.iam.selectors import principal_in_facility
from tests.conftest import World


def _request(world: World, token: str) -> Any:
    return RequestFactory().get(
        "/api/patients/",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Tenant-ID": str(world.tenant.id),
            "X-Facility-ID": str(world.main.id),
        },
    )


def _admin_scope(world: World) -> Scope:
    principal = principal_in_facility(
        user=world.users["admin"], tenant_id=world.tenant.id, facility_id=world.main.id
    )
    assert principal is not None
    return Scope(world.tenant.id, world.main.id, principal, RequestContext(request_id="t"))


def test_authentication_costs_no_query_on_a_cache_hit(world, django_assert_num_queries):
    # given: a first request resolved the nurse's principal
    token = str(AccessToken.for_user(world.users["nurse"]))
    with django_assert_num_queries(1):  # user joined to membership, its roles, their grants
        first = scope_auth.authenticate(_request(world, token), token)
    with django_assert_num_queries(1):  # /api/auth/me/ and the like: the user only
        user_auth.authenticate(_request(world, token), token)

    # when / then
    with django_assert_num_queries(0):
        again = scope_auth.authenticate(_request(world, token), token)
    with django_assert_num_queries(0):
        user_auth.authenticate(_request(world, token), token)
    assert again.principal == first.principal
    assert again.principal.may("patients.view") and not again.principal.may("audit.view")


def test_a_cache_hit_saves_the_auth_query_of_a_request(world):
    # given
    api = world.api("nurse")

    # when
    with CaptureQueriesContext(connection) as cold:
        assert api.get("/api/patients/").status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert api.get("/api/patients/").status_code == 200

    # then
    assert len(warm) == len(cold) - 1


def test_each_token_and_each_facility_has_its_own_entry(world, django_assert_num_queries):
    user = world.users["admin"]
    first, second = str(AccessToken.for_user(user)), str(AccessToken.for_user(user))
    scope_auth.authenticate(_request(world, first), first)

    with django_assert_num_queries(1):
        scope_auth.authenticate(_request(world, second), second)
    annex = _request(world, first)
    annex.META["HTTP_X_FACILITY_ID"] = str(world.annex.id)
    with django_assert_num_queries(1):
        assert scope_auth.authenticate(annex, first).facility_id == world.annex.id


def test_a_membership_revoked_through_the_service_is_refused_on_the_next_call(world):
    # given: the nurse's principal is cached
    token = str(AccessToken.for_user(world.users["nurse"]))
    scope_auth.authenticate(_request(world, token), token)
    membership = FacilityMembership.objects.get(user=world.users["nurse"], facility=world.main)

    # when
    lifecycle.membership_revoke(scope=_admin_scope(world), membership_id=membership.id)

    # then
    with pytest.raises(ScopeForbidden):
        scope_auth.authenticate(_request(world, token), token)


def test_a_user_deactivated_through_the_service_is_401_on_the_next_call(world):
    token = str(AccessToken.for_user(world.users["nurse"]))
    scope_auth.authenticate(_request(world, token), token)
    user_auth.authenticate(_request(world, token), token)

    lifecycle.user_deactivate(scope=_admin_scope(world), user_id=world.users["nurse"].id)

    with pytest.raises(TokenInvalid):
        scope_auth.authenticate(_request(world, token), token)
    with pytest.raises(TokenInvalid):
        user_auth.authenticate(_request(world, token), token)


def test_changed_grants_reach_every_holder_of_the_role_on_the_next_call(world):
    token = str(AccessToken.for_user(world.users["nurse"]))
    assert scope_auth.authenticate(_request(world, token), token).principal.may("patients.view")

    lifecycle.role_permissions_set(
        scope=_admin_scope(world), code="nurse", permissions=["tasks.view"]
    )

    principal = scope_auth.authenticate(_request(world, token), token).principal
    assert principal.permissions == frozenset({"tasks.view"})


def test_with_the_cache_off_every_call_reads_the_database(
    world, settings, django_assert_num_queries
):
    settings.IAM_PRINCIPAL_CACHE_SECONDS = 0
    token = str(AccessToken.for_user(world.users["nurse"]))
    scope_auth.authenticate(_request(world, token), token)

    with django_assert_num_queries(1):
        scope_auth.authenticate(_request(world, token), token)


def test_an_unreachable_cache_falls_back_to_the_database(world, monkeypatch):
    # given: every cache call fails (Redis down)
    from hm_core.iam import principal_cache

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    monkeypatch.setattr(principal_cache.cache, "get_many", down)
    monkeypatch.setattr(principal_cache.cache, "set", down)
    token = str(AccessToken.for_user(world.users["nurse"]))

    # then: the request is served from the database
    assert scope_auth.authenticate(_request(world, token), token).principal.may("patients.view")
