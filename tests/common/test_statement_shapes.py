"""INSERT and UPDATE shapes compiled once (`common.db.insert_statements`, `update_statement`):
exactly the SQL and parameters Django compiles for the same rows, the same rows written, and
no compilation for a shape seen before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from django.db import connection
from django.db.models import F
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.db.models.sql.compiler import SQLInsertCompiler, SQLUpdateCompiler
from django.forms.models import model_to_dict

from hm_core.common.db import insert_statements, update_sql, update_statement
from hm_core.encounters.models import Encounter

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIELDS = [f for f in Encounter._meta.concrete_fields if not f.generated]


@contextmanager
def no_compiling() -> Iterator[None]:
    """Fail any INSERT or UPDATE that Django compiles inside the block."""

    def refuse(compiler: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{type(compiler).__name__} compiled a statement")

    with (
        patch.object(SQLInsertCompiler, "as_sql", refuse),
        patch.object(SQLUpdateCompiler, "as_sql", refuse),
    ):
        yield


def _plain(params: Any) -> Any:
    """Parameters comparable with ==: an adapter's wrapper (psycopg's `Jsonb`) by its type and
    what it wraps."""
    if isinstance(params, (list, tuple)):
        return [_plain(p) for p in params]
    if hasattr(params, "obj") and hasattr(params, "dumps"):
        return (type(params), params.obj)
    return (type(params), params)


def _encounters(world: Any, count: int, *, minute: int = 0) -> list[Encounter]:
    at = AT + timedelta(minutes=minute)
    return [
        Encounter(
            id=uuid.uuid4(),
            tenant_id=world.tenant.id,
            facility_id=world.main.id,
            patient_id=uuid.UUID(int=minute * 100 + i + 1),
            status="SCHEDULED",
            reason=f"Cough {minute}.{i}",
            scheduled_at=at,
            diagnoses=[{"code": "J20", "minute": minute}],
            vitals_count=i,
            version=1,
            created_at=at,
            updated_at=at,
        )
        for i in range(count)
    ]


def _django_insert(objs: list[Encounter], on_conflict: Any, **fields: Any) -> list[Any]:
    query = InsertQuery(Encounter, on_conflict=on_conflict, **fields)
    query.insert_values(FIELDS, objs)
    return [
        (sql, _plain(tuple(p))) for sql, p in query.get_compiler(connection=connection).as_sql()
    ]


UPSERT = {
    "on_conflict": OnConflict.UPDATE,
    "update_fields": [Encounter._meta.get_field("status"), Encounter._meta.get_field("reason")],
    "unique_fields": [Encounter._meta.pk],
}


@pytest.mark.parametrize("conflict", ["ignore", "upsert"])
@pytest.mark.parametrize("rows", [1, 3])
def test_an_insert_shape_compiles_once_and_binds_as_django_does(world, conflict, rows):
    # given a shape compiled once
    options: dict[str, Any] = (
        {"on_conflict": OnConflict.IGNORE} if conflict == "ignore" else dict(UPSERT)
    )
    insert_statements(Encounter, _encounters(world, rows), fields=FIELDS, **options)
    objs = _encounters(world, rows, minute=7)
    # when the same shape comes again with other values
    with no_compiling():
        ours = insert_statements(Encounter, objs, fields=FIELDS, **options)
    # then nothing was compiled, and the statement is exactly Django's for these rows
    django_options = {
        "on_conflict": options["on_conflict"],
        "update_fields": options.get("update_fields"),
        "unique_fields": options.get("unique_fields"),
    }
    assert [(sql, _plain(p)) for sql, p in ours] == _django_insert(objs, **django_options)


@pytest.mark.postgres_only
def test_a_multi_row_insert_is_one_text_for_any_row_count_on_postgresql(world):
    # given two rows compiled (one UNNEST array per column)
    insert_statements(Encounter, _encounters(world, 2), fields=FIELDS)
    objs = _encounters(world, 5, minute=3)
    # when five come
    with no_compiling():
        ours = insert_statements(Encounter, objs, fields=FIELDS)
    # then the text is reused
    assert [(sql, _plain(p)) for sql, p in ours] == _django_insert(objs, None)


def test_the_rows_written_are_those_bulk_create_writes(world):
    # given a shape compiled once
    insert_statements(Encounter, _encounters(world, 2), fields=FIELDS)
    ours, theirs = _encounters(world, 2, minute=1), _encounters(world, 2, minute=1)
    # when one pair is inserted by the kept statement, the other by bulk_create
    with no_compiling():
        [statement] = insert_statements(Encounter, ours, fields=FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(*statement)
    Encounter.all_tenants.bulk_create(theirs)

    # then both read back alike
    def read(objs: list[Encounter]) -> list[dict[str, Any]]:
        rows = Encounter.all_tenants.filter(id__in=[o.id for o in objs]).order_by("reason")
        return [{k: v for k, v in model_to_dict(row).items() if k != "id"} for row in rows]

    assert read(ours) == read(theirs)
    assert len(read(ours)) == 2


def _one(world: Any, encounter_id: uuid.UUID) -> Any:
    return Encounter.all_tenants.filter(id=encounter_id, tenant_id=world.tenant.id)


def test_an_update_shape_compiles_once_and_binds_as_django_does(world):
    # given a shape compiled once
    update_statement(_one(world, uuid.uuid4()), {"status": "CHECKED_IN", "checked_in_at": AT})
    queryset, values = _one(world, uuid.uuid4()), {"status": "CLOSED", "checked_in_at": AT}
    # when it comes again with other values
    with no_compiling():
        ours = update_statement(queryset, values)
    # then nothing was compiled, and the statement is exactly Django's
    theirs = update_sql(queryset, values)
    assert ours is not None and theirs is not None
    assert (ours[0], _plain(ours[1])) == (theirs[0], _plain(theirs[1]))


@pytest.mark.parametrize(
    "values",
    [
        {"status": "CHECKED_IN", "checked_in_at": None},  # NULL: another text
        {"vitals_count": F("vitals_count") + 1},  # an expression: Django's every time
    ],
)
def test_an_update_whose_text_depends_on_its_values_is_not_reused(world, values):
    # given the plain shape compiled
    update_statement(_one(world, uuid.uuid4()), {"status": "CHECKED_IN", "checked_in_at": AT})
    queryset = _one(world, uuid.uuid4())
    # when the values change the text
    ours = update_statement(queryset, values)
    # then the statement is Django's own for them
    theirs = update_sql(queryset, values)
    assert ours is not None and theirs is not None
    assert (ours[0], _plain(ours[1])) == (theirs[0], _plain(theirs[1]))


def test_an_update_filtered_by_more_than_equalities_is_compiled_by_django(world):
    # given a filter the shapes do not cover (IN)
    queryset = Encounter.all_tenants.filter(id__in=[uuid.uuid4(), uuid.uuid4()])
    update_statement(queryset, {"status": "CLOSED"})
    # when it comes again / then Django compiles it again
    with no_compiling(), pytest.raises(AssertionError, match="SQLUpdateCompiler"):
        update_statement(Encounter.all_tenants.filter(id__in=[uuid.uuid4()]), {"status": "X"})
