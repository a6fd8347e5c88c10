"""Record on the chain the configuration rows that predate their events.

Tenant configuration (close-gate rules, webhook endpoints) used to be rows edited in place; it
is now the read model of events. Rows written before that have no event, so a rebuild would
drop them. Each owning module registers a `ConfigBackfill`: which rows lack events, and the
event that records each one as it stands. `manage.py backfill_config_events` runs them all;
a second run finds nothing to do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from hm_core.common.scope import Principal, RequestContext, Scope, scope_active
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish

BACKFILL = Principal.system("backfill")


@dataclass(frozen=True)
class Pending:
    """One row to record: its tenant, its stream, the events that state it and when (the
    row's own time), and what to clear first (a row the projection will write again)."""

    tenant_id: uuid.UUID
    stream: StreamRef
    events: Sequence[DomainEvent]
    occurred_at: datetime | None = None
    clear: Callable[[], object] | None = None


@dataclass(frozen=True)
class ConfigBackfill:
    name: str
    pending: Callable[[uuid.UUID | None], Iterable[Pending]]  # the module's Finder


_registered: list[ConfigBackfill] = []


Finder = Callable[[uuid.UUID | None], Iterable[Pending]]


def config_backfill(name: str) -> Callable[[Finder], Finder]:
    """Register a module's finder of rows without events (decorates it in its services)."""

    def register(pending: Finder) -> Finder:
        _registered.append(ConfigBackfill(name, pending))
        return pending

    return register


def config_backfill_run(
    *, tenant_id: uuid.UUID | None, facility_of: Callable[[uuid.UUID], uuid.UUID | None]
) -> dict[str, int]:
    """Record every pending row; answers how many events each backfill appended."""
    run = RequestContext(request_id=f"backfill-{uuid.uuid4()}")
    counts: dict[str, int] = {}
    for backfill in _registered:
        counts[backfill.name] = 0
        for item in list(backfill.pending(tenant_id)):
            facility_id = facility_of(item.tenant_id)
            if facility_id is None:
                continue  # a tenant with no facility has no scope to write in
            scope = Scope(item.tenant_id, facility_id, BACKFILL, run)
            with scope_active(scope), transaction.atomic():
                if item.clear is not None:
                    item.clear()
                publish(
                    scope=scope,
                    stream=item.stream,
                    expected_version=None,
                    events=item.events,
                    occurred_at=item.occurred_at,
                )
            counts[backfill.name] += len(item.events)
    return counts
