"""Reads of the real-time module: tenants' heads and their committed events, decoded once.

`Event` and `TenantEventHead` are not scoped models: the callers pass the tenant explicitly
(the process-wide feed serves every tenant that has a socket open). On PostgreSQL a tenant's
events are read inside that tenant (`rls.tenant`), whatever state the caller is in; only the
heads, positions of the tenants with sockets open, are one deliberate system read.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

from hm_core.common import rls
from hm_core.common.scope import unscoped
from hm_core.common.time import isoformat
from hm_core.events import store
from hm_core.events.models import Event, TenantEventHead
from hm_core.patients.models import Patient
from hm_core.realtime.items import Item


def tenant_heads(tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Last committed position of each tenant (0 for a tenant without events)."""
    ids = list(tenant_ids)
    with rls.system("realtime feed: the heads (positions only) of the tenants it serves"):
        heads = dict(
            TenantEventHead.objects.filter(tenant_id__in=ids).values_list("tenant_id", "position")
        )
    return {tenant_id: heads.get(tenant_id, 0) for tenant_id in ids}


def events_between(*, tenant_id: uuid.UUID, after: int, upto: int, limit: int) -> list[Item]:
    """The tenant's events with `after < position <= upto`, oldest first, at most `limit`,
    those about a confidential patient flagged (one query per batch, for every socket)."""
    with rls.tenant(tenant_id):
        rows = Event.objects.filter(
            tenant_id=tenant_id, position__gt=after, position__lte=upto
        ).order_by("position")[:limit]
        items = [item_of(row) for row in rows]
        confidential = confidential_patients(
            tenant_id=tenant_id, patient_ids={i.patient_id for i in items if i.patient_id}
        )
    if not confidential:
        return items
    return [
        dataclasses.replace(item, confidential=True) if item.patient_id in confidential else item
        for item in items
    ]


def confidential_patients(
    *, tenant_id: uuid.UUID, patient_ids: set[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Which of the tenant's `patient_ids` are confidential (contract §18)."""
    if not patient_ids:
        return frozenset()
    # No user's scope here: the feed serves every socket of the tenant. The database still keeps
    # to the tenant (rls.tenant), and the query names it.
    reason = "realtime feed: which patients of a batch are confidential"
    with unscoped(reason), rls.tenant(tenant_id):
        rows = Patient.objects.filter(
            tenant_id=tenant_id, confidential=True, id__in=patient_ids
        ).values_list("id", flat=True)
        return frozenset(rows)


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
