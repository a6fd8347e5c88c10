"""The SQL statements that really reach the database inside a block.

An execute wrapper, installed after the unit of work's own (which sits first and swallows the
savepoints it never has to send), so what it records is what PostgreSQL or SQLite received.
Django's `CaptureQueriesContext` logs at the cursor, before the wrappers, and its log is a
bounded deque: neither fits a count of statements per command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Yield the list the block's statements are appended to, in order."""
    sent: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent
