"""Lists sent as PostgreSQL array literals: the faster escape gives psycopg's bytes, and the
values come back from the database as sent."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from psycopg.adapt import PyFormat

from hm_core.common.pg.arrays import FastListDumper, escape

BUNDLE = Path(__file__).parents[1] / "fhir" / "fixtures" / "elsa_vargas.json"
PSYCOPG_ESCAPE = re.compile(rb'(["\\])')
AWKWARD = ['say "hi"', "back\\slash", 'both \\" at once', "", "a,b", "{braces}", " ", "NULL"]


def test_the_escape_is_psycopgs_on_json_and_awkward_text():
    payloads = [json.dumps(e["resource"]) for e in json.loads(BUNDLE.read_text())["entry"]]
    for text in [*payloads, *AWKWARD]:
        raw = text.encode()
        assert escape(raw) == PSYCOPG_ESCAPE.sub(rb"\\\1", raw)


@pytest.mark.postgres_only
def test_lists_go_out_with_the_fast_dumper_and_come_back_unchanged(db):
    values = [*AWKWARD, None, json.dumps({"a": 'q"uote', "b": "x\\y"})]
    with connection.cursor() as cursor:
        dumper = cursor.connection.adapters.get_dumper(list, PyFormat.TEXT)
        cursor.execute("SELECT unnest(%s::text[])", [values])
        back = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT unnest(%s::jsonb[])", [[json.dumps({"k": 'v"\\'})]])
        [(document,)] = cursor.fetchall()
    assert issubclass(dumper, FastListDumper)
    assert back == values
    assert json.loads(document) == {"k": 'v"\\'}


@pytest.mark.postgres_only
def test_every_element_quoted_reads_back_as_its_own_type(db):
    # given elements of the types a unit of work's multi-row INSERT sends, NULLs among them
    ids = [uuid.uuid4(), None, uuid.uuid4()]
    times = [datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC), None]
    numbers = [0, -7, None, 2**40]
    # when they go out as quoted array elements and come back
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::uuid[], %s::timestamptz[], %s::bigint[], %s::text[], %s::int[]",
            [ids, times, numbers, ["NULL", None, ""], [[1, 2], [3, 4]]],
        )
        back = cursor.fetchone()
    # then each is the value sent (the text "NULL" a string, a NULL a None)
    assert back == (ids, times, numbers, ["NULL", None, ""], [[1, 2], [3, 4]])
