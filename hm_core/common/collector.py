"""Python's cyclic garbage collector, paused around work that allocates much and frees it all.

A serving process holds a few hundred thousand long-lived container objects (Django, Ninja's
and `fhir.resources`' pydantic classes). A request that allocates tens of thousands of
objects kept until it ends (a FHIR transaction Bundle: its entries, models, queued rows)
triggers full collections that walk all of them, and free nothing: measured on a 230-entry
Synthea Bundle, one full pass took 0.9 s of a 4.8 s import (docs/fhir.md). Reference counting
still frees everything without cycles; the collector runs again once the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with automatic collection off (left as it was if already off: another
    thread's block, or a caller's choice, owns it)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
