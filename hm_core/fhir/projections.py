"""FHIR store projections: the current version of each stored resource, its identifiers and
its codes.

Replay-safe: the row is upserted from the event alone (its version is the stream version,
its times the event's), identifier rows are inserted with `ignore_conflicts`, code rows are
upserted with the version they belong to (ids derived from the stream and the code).
"""

from __future__ import annotations

import uuid

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import insert, upsert
from hm_core.fhir.events import ResourceStored
from hm_core.fhir.models import StoredCode, StoredIdentifier, StoredResource
from hm_core.fhir.stored import resource_codes

rebuildable("fhir", StoredResource, StoredIdentifier, StoredCode)


@subscribe(ResourceStored)
def stored_resource_apply_stored(event: ResourceStored, meta: EventMeta) -> None:
    """Upsert the resource's current version; add the identifiers it carries."""
    upsert(
        StoredResource,
        id=event.resource_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "resource_type": event.resource_type,
            "patient_id": event.patient_id,
            "source_key": event.source_key,
            "identifiers": event.identifiers,
            "resource": event.resource,
            "version": meta.stream_version,
            "updated_at": meta.recorded_at,
        },
    )
    identifiers = [
        StoredIdentifier(
            id=_identifier_id(meta, key),
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            resource_id=event.resource_id,
            resource_type=event.resource_type,
            key=key,
        )
        for key in event.identifiers
    ]
    if identifiers:  # an insert of no rows is no statement (grouped, it would be invalid SQL)
        insert(StoredIdentifier, *identifiers)
    for system, code in resource_codes(event.resource):
        upsert(
            StoredCode,
            id=uuid.uuid5(meta.stream.id, f"code {system}|{code}"),
            defaults={
                "tenant_id": meta.tenant_id,
                "facility_id": meta.facility_id,
                "resource_id": event.resource_id,
                "resource_type": event.resource_type,
                "system": system,
                "code": code,
                "version": meta.stream_version,
            },
        )


def _identifier_id(meta: EventMeta, key: str) -> uuid.UUID:
    return uuid.uuid5(meta.stream.id, key)
