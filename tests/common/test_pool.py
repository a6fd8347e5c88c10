"""The production settings' connection pool (config/settings/prod.py) with row-level security:
a connection borrowed from the pool never carries the previous borrower's role or tenant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection

from hm_core.common import rls
from hm_core.common.pg.base import DatabaseWrapper

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pooled() -> Any:
    """A second wrapper on the test database with a pool of one connection, so every borrow
    gets the same server session back."""
    settings = {
        **connection.settings_dict,
        "CONN_MAX_AGE": 0,
        "OPTIONS": {**connection.settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 1}},
    }
    wrapper = DatabaseWrapper(settings, alias="hm_pool_test")
    yield wrapper
    wrapper.close()
    wrapper.close_pool()


def _session(wrapper: Any) -> tuple[int, str, str]:
    with wrapper.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid(), current_user, current_setting('app.tenant_id', true)"
        )
        pid, user, tenant = cursor.fetchone()
    wrapper.close()  # back to the pool, as at the end of a request
    return pid, user, tenant or ""


def test_a_pooled_connection_never_keeps_the_last_borrowers_tenant(pooled) -> None:
    if not rls.enabled("postgresql"):
        pytest.skip("row-level security is off")
    tenant = uuid.uuid4()

    # given a request that ran as the application role in one tenant
    with rls.tenant(tenant):
        first = _session(pooled)
    # when the same server session is borrowed for a system path, then for no tenant
    with rls.system("test: a system path after a tenant's request"):
        second = _session(pooled)
    with rls.no_tenant():
        third = _session(pooled)

    # then each ran in the state it wanted, on one and the same pooled session
    assert first[0] == second[0] == third[0]
    assert first[1:] == (rls.app_role(), str(tenant))
    assert second[1:] == (connection.settings_dict["USER"] or second[1], "")
    assert second[1] != rls.app_role()
    assert third[1:] == (rls.app_role(), "")
