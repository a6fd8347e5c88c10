"""Reads of the real-time module: tenants' heads and their committed events, decoded once.

`Event` and `TenantEventHead` are not scoped models: the callers pass the tenant explicitly
(the process-wide feed serves every tenant that has a socket open).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from hm_core.common.time import isoformat
from hm_core.events import store
from hm_core.events.models import Event, TenantEventHead
from hm_core.realtime.items import Item


def tenant_heads(tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Last committed position of each tenant (0 for a tenant without events)."""
    ids = list(tenant_ids)
    heads = dict(
        TenantEventHead.objects.filter(tenant_id__in=ids).values_list("tenant_id", "position")
    )
    return {tenant_id: heads.get(tenant_id, 0) for tenant_id in ids}


def events_between(*, tenant_id: uuid.UUID, after: int, upto: int, limit: int) -> list[Item]:
    """The tenant's events with `after < position <= upto`, oldest first, at most `limit`."""
    rows = Event.objects.filter(
        tenant_id=tenant_id, position__gt=after, position__lte=upto
    ).order_by("position")[:limit]
    return [item_of(row) for row in rows]


def item_of(row: Event) -> Item:
    """Decode a stored event (upcast to its current version) into what sockets need."""
    try:
        event = store.load(row).event
        patient_id, encounter_id, summary = (
            event.patient_ref(),
            event.encounter_ref(),
            event.summary()[:500],
        )
    except LookupError:  # a type this process does not know (a newer release wrote it)
        patient_id, encounter_id = None, None
        summary = row.type.replace(".", " ").replace("_", " ").capitalize()
    return Item.build(
        position=row.position,
        event_type=row.type,
        occurred_at=isoformat(row.occurred_at),
        stream_type=row.stream_type,
        stream_id=row.stream_id,
        facility_id=row.facility_id,
        patient_id=patient_id,
        encounter_id=encounter_id,
        summary=summary,
    )
