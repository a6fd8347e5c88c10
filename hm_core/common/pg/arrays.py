"""psycopg's text dumper of Python lists with a faster escape of each element.

Django 5.2 inserts several rows as `INSERT ... SELECT * FROM UNNEST(%s::jsonb[], ...)`, one array
per column, and with client-side binding (Django's default) psycopg writes each array as a text
literal, escaping `"` and `\\` in every element with a regular expression whose replacement is
a group template: Python expands the template once per match. A JSON payload is mostly quotes:
for the 230 resources of one Synthea Bundle that is 150 ms per column against 4 ms for two
`bytes.replace` (the same bytes; tests/common/test_pg_arrays.py). Events, stored FHIR resources,
timeline and audit rows all carry JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg.adapt import AdaptersMap, Buffer
from psycopg.types.array import ListBinaryDumper, ListDumper

_prepared: set[int] = set()


def escape(value: Buffer) -> bytes:
    """An array element's text, its `\\` and `"` backslash-escaped (what psycopg's regex does)."""
    return bytes(value).replace(b"\\", b"\\\\").replace(b'"', b'\\"')


class FastListDumper(ListDumper):
    def _dump_list(
        self, obj: list[Any], tokens: list[Buffer], needs_quotes: Callable[[Buffer], object]
    ) -> None:
        if not obj:
            tokens.append(b"{}")
            return
        dump = self.sub_dumper.dump if self.sub_dumper else self._dump_item
        tokens.append(b"{")
        for item in obj:
            if item is None:
                tokens.append(b"NULL")
            elif isinstance(item, list):
                self._dump_list(item, tokens, needs_quotes)
            elif (ad := dump(item)) is None:
                tokens.append(b"NULL")
            else:
                tokens.append(b'"' + escape(ad) + b'"' if needs_quotes(ad) else ad)
            tokens.append(self.delimiter)
        tokens[-1] = b"}"


def use_fast_lists(adapters: AdaptersMap) -> None:
    """Dump lists as text with `FastListDumper` (once per adapters map; the binary dumper
    stays psycopg's, and stays the choice when the format is left to psycopg)."""
    if id(adapters) in _prepared:
        return
    adapters.register_dumper(list, FastListDumper)
    adapters.register_dumper(list, ListBinaryDumper)
    _prepared.add(id(adapters))
