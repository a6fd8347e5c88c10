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


def freeze_after_startup() -> int:
    """Put everything a serving process holds once it has started out of the collector's
    reach (`gc.freeze`); returns how many objects that is.

    Those objects (the apps, every API module and its schemas: the URLconf is imported here
    rather than on the first request) live as long as the process, yet each full collection
    walked all of them: 0.6 s for 177,000 objects at load 10 here, a pause that lands on
    whichever requests the worker is serving. Frozen, a full collection walks only what
    requests left behind. Called by `config.asgi` and `config.wsgi`, never in tests' processes.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every router and schema now
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
