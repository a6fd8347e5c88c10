"""Shared fixtures: a tenant world (two facilities, a user per role), API clients, scopes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from ninja_jwt.tokens import AccessToken

from hm_core.common import rls
from hm_core.common.scope import RequestContext, Scope
from hm_core.iam.models import Facility, Tenant, User
from hm_core.iam.permissions import ROLES
from hm_core.iam.selectors import principal_in_facility
from hm_core.iam.services import membership_grant, roles_ensure
from tests.factories import FacilityFactory, TenantFactory, UserFactory

PASSWORD = "pw-for-tests-123"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: Any) -> Any:
    """Each test starts as the connecting user (row-level security off), whatever the last one
    entered; and its fixtures are torn down (the flush of a transactional test) the same way."""
    rls.reset()
    yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: Any, nextitem: Any) -> Any:
    rls.reset()
    yield


class Api:
    """A JSON client for one user in one facility: bearer token and scope headers set."""

    def __init__(self, user: User | None, tenant_id: Any, facility_id: Any) -> None:
        self.client = Client()
        self.headers: dict[str, str] = {}
        if user is not None:
            self.headers["Authorization"] = f"Bearer {AccessToken.for_user(user)}"
        if tenant_id is not None:
            self.headers["X-Tenant-ID"] = str(tenant_id)
        if facility_id is not None:
            self.headers["X-Facility-ID"] = str(facility_id)

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Any:
        all_headers = {**self.headers, **(headers or {})}
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        return getattr(self.client, method)(
            path, data=data, content_type="application/json", headers=all_headers, **kw
        )

    def get(
        self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        return self.client.get(path, data=params or {}, headers={**self.headers, **(headers or {})})

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self._call("post", path, body if body is not None else {}, headers)

    def patch(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self._call("patch", path, body if body is not None else {}, headers)

    def put(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self._call("put", path, body if body is not None else {}, headers)

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(path, headers={**self.headers, **(headers or {})})


@dataclass
class World:
    """One tenant with facilities `main` and `annex` and a user per role (like bootstrap_demo)."""

    tenant: Tenant
    main: Facility
    annex: Facility
    users: dict[str, User] = field(default_factory=dict)

    def api(self, role: str = "admin", facility: Facility | None = None) -> Api:
        return Api(self.users[role], self.tenant.id, (facility or self.main).id)

    def scope(self, role: str = "admin", facility: Facility | None = None) -> Scope:
        facility = facility or self.main
        principal = principal_in_facility(
            user=self.users[role], tenant_id=self.tenant.id, facility_id=facility.id
        )
        assert principal is not None
        return Scope(
            tenant_id=self.tenant.id,
            facility_id=facility.id,
            principal=principal,
            context=RequestContext(request_id=f"test-{uuid.uuid4()}"),
        )


def build_world(slug: str) -> World:
    tenant = TenantFactory(slug=slug)
    roles_ensure()  # creates roles and permissions and seeds the new tenant's grants
    main = FacilityFactory(tenant=tenant, code="main")
    annex = FacilityFactory(tenant=tenant, code="annex")
    world = World(tenant=tenant, main=main, annex=annex)
    for role in [*ROLES, "lab_tech2"]:
        user = UserFactory(username=f"{role}@{slug}")
        granted = "lab_tech" if role == "lab_tech2" else role
        membership_grant(user=user, facility=main, roles=[granted])
        if role in ("admin", "doctor"):
            membership_grant(user=user, facility=annex, roles=[granted])
        world.users[role] = user
    return world


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Sign-in and rate-limit counters live in the cache: every test starts without any."""
    cache.clear()


@pytest.fixture
def world(db: Any) -> World:
    return build_world("acme")


@pytest.fixture
def other_world(db: Any) -> World:
    """A second tenant, for isolation probes."""
    return build_world("rival")


@pytest.fixture
def anonymous() -> Api:
    return Api(None, None, None)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (make test)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)
