"""What a Synthea import costs in SQL statements: a transaction Bundle is one unit of work and
reads its lookups once per Bundle, so the count must not return to one command per entry
(9.6 statements per entry before; docs/performance.md "FHIR")."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.fhir.test_transaction import FIXTURES, post
from tests.statements import statements_sent

# Measured on PostgreSQL (statements, first import / again): 49 / 10 for elsa_vargas's 230
# entries (0.21 per entry; 3.2 per entry before the idle-checkpoint UPDATE went to one per unit
# of work, the OPD visit reads to none for imported encounters, and queued rows took in their
# later changes). What is left: the Bundle's lookups, the flushes forced by reads of the lab
# import, the head lock and one grouped statement per flush.
FIRST_PER_ENTRY = 0.25
AGAIN_PER_BUNDLE = 10


def _statements(api: Any, body: dict[str, Any]) -> tuple[int, Any]:
    with statements_sent() as sent:
        response = post(api, body)
    if os.environ.get("HM_SHOW_SQL"):
        print(f"--- {len(sent)}", *sent, sep="\n")
    return len(sent), response


@pytest.mark.postgres_only
def test_a_synthea_bundle_imports_in_a_few_statements_per_entry(lab_world):
    # given
    api = lab_world.api()
    source = json.loads((FIXTURES / "elsa_vargas.json").read_text())
    entries = len(source["entry"])
    # when
    first, created = _statements(api, source)
    again, unchanged = _statements(api, source)
    # then
    assert created.status_code == unchanged.status_code == 200
    assert {e["response"]["status"] for e in created.json()["entry"]} == {"201 Created"}
    assert {e["response"]["status"] for e in unchanged.json()["entry"]} == {"200 OK"}
    assert first <= FIRST_PER_ENTRY * entries, first / entries
    assert again <= AGAIN_PER_BUNDLE, again
