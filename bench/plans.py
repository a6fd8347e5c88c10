"""EXPLAIN the exact SQL a selector ran, and name the indexes its plan uses.

The SQL is captured from the real call (Django interpolates parameters client-side with
psycopg), so the plan is the plan of the code under test, not of a hand-written copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Plan:
    sql: str
    indexes: list[str]
    nodes: list[str]
    seq_scans: list[str]
    execution_ms: float
    rows_filtered: int

    def summary(self) -> str:
        used = ", ".join(self.indexes) or "NO INDEX"
        seq = f"; SEQ SCAN on {', '.join(self.seq_scans)}" if self.seq_scans else ""
        removed = f"; {self.rows_filtered:,} rows removed by filter" if self.rows_filtered else ""
        return f"{used} ({' > '.join(self.nodes[:4])}){seq}{removed}, {self.execution_ms:.2f} ms"


def captured_sql(call: Callable[[], Any]) -> list[str]:
    """Run `call` and return the SQL statements it sent, in order."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        call()
    return [q["sql"] for q in queries.captured_queries]


def explain(sql: str) -> Plan:
    """EXPLAIN (ANALYZE, BUFFERS) one captured SELECT and walk its plan tree."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        document = cursor.fetchone()[0]
    root = (json.loads(document) if isinstance(document, str) else document)[0]
    nodes = list(_walk(root["Plan"]))
    return Plan(
        sql=sql,
        indexes=sorted({n["Index Name"] for n in nodes if "Index Name" in n}),
        nodes=[n["Node Type"] for n in nodes],
        seq_scans=sorted({n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"}),
        execution_ms=float(root.get("Execution Time", 0.0)),
        rows_filtered=sum(int(n.get("Rows Removed by Filter", 0)) for n in nodes),
    )


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)
