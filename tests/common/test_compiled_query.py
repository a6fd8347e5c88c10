"""`CompiledQuery`: a queryset compiled once per database, run with new values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hm_core.common.db import CompiledQuery
from hm_core.iam.models import Facility


def _counting(calls: list[Any]) -> Any:
    def build(*, tenant_id: uuid.UUID) -> Any:
        calls.append(tenant_id)
        return Facility.objects.filter(tenant_id=tenant_id, is_active=True).order_by("code")

    return build


def test_it_compiles_once_and_answers_as_the_queryset_does(world, other_world):
    # given
    calls: list[Any] = []
    build = _counting(calls)
    query = CompiledQuery(Facility, build, tenant_id=Facility._meta.get_field("tenant"))
    # when: run for two tenants, the second as a string
    with CaptureQueriesContext(connection) as queries:
        ours = [f.code for f in query.raw(tenant_id=world.tenant.id)]
        theirs = [f.id for f in query.raw(tenant_id=str(other_world.tenant.id))]
    # then: one compilation (with a stand-in, not a real tenant), one statement a run
    assert len(calls) == 1 and calls[0] not in (world.tenant.id, other_world.tenant.id)
    assert len(queries) == 2
    assert ours == ["annex", "main"]
    assert theirs == list(build(tenant_id=other_world.tenant.id).values_list("id", flat=True))


def test_it_refuses_a_value_the_statement_does_not_take_as_a_parameter(db):
    # given: a queryset that ignores its value, and one that puts it in the SQL text
    tenant = Facility._meta.get_field("tenant")
    ignored = CompiledQuery(Facility, lambda *, tenant_id: Facility.objects.all(), tenant_id=tenant)
    inlined = CompiledQuery(
        Facility,
        # a random UUID of our own, formatted into the SQL on purpose: what must be refused
        lambda *, tenant_id: Facility.objects.extra(where=[f"tenant_id = '{tenant_id.hex}'"]),  # noqa: S610
        tenant_id=tenant,
    )
    # when / then
    for query in (ignored, inlined):
        with pytest.raises(ValueError, match="not passed as parameters"):
            query.raw(tenant_id=uuid.uuid4())


def test_its_rows_are_tuples_and_an_instance_of_one_is_what_raw_builds(world):
    # given
    query = CompiledQuery(Facility, _counting([]), tenant_id=Facility._meta.get_field("tenant"))
    # when
    with CaptureQueriesContext(connection) as queries:
        alias, columns, rows = query.rows(tenant_id=world.tenant.id)
    built = [query.instance(alias, columns, row) for row in rows]
    # then: one statement; each instance has the stored fields `raw` gives, and is saved state
    raw = list(query.raw(tenant_id=world.tenant.id))
    fields = [f.attname for f in Facility._meta.concrete_fields]
    assert len(queries) == 1 and len(rows) == 2 and isinstance(rows[0], tuple)
    assert [[getattr(f, n) for n in fields] for f in built] == [
        [getattr(f, n) for n in fields] for f in raw
    ]
    assert all(not f._state.adding and f._state.db == alias for f in built)
