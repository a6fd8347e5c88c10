"""Timeline projection: every event about a patient or an encounter becomes one entry."""

from __future__ import annotations

from django.db import transaction

from hm_core.common.crypto import rotated_tokens, rotator
from hm_core.events.base import DomainEvent, EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import insert
from hm_core.timeline.models import TimelineEntry

rebuildable("timeline", TimelineEntry)

# Streams whose events describe the patient as a whole, visible from every facility.
TENANT_WIDE_STREAMS = frozenset({"patient", "consent", "break_glass"})


@subscribe(all_events=True, stage=Stage.TIMELINE)
def timeline_apply_event(event: DomainEvent, meta: EventMeta) -> None:
    """Upsert the entry keyed on the event id: applying an event twice changes nothing."""
    patient_id, encounter_id = event.patient_ref(), event.encounter_ref()
    if patient_id is None and encounter_id is None:
        return
    insert(
        TimelineEntry,
        TimelineEntry(
            event_id=meta.event_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            position=meta.position,
            patient_id=patient_id,
            encounter_id=encounter_id,
            tenant_wide=meta.stream.type in TENANT_WIDE_STREAMS,
            event_type=meta.event_type,
            occurred_at=meta.occurred_at,
            actor_id=meta.actor_id,
            actor_username=meta.actor_username,
            stream_type=meta.stream.type,
            stream_id=meta.stream.id,
            summary=event.summary()[:500],
            data=event.to_payload(),
        ),
    )


@rotator("timeline")
def timeline_rotate_field_keys() -> int:
    """Re-encrypt the tokens in entries' `data` (e.g. a patient's phone) with the first key."""
    done = 0
    entries = TimelineEntry.all_tenants.order_by("pk").only("pk", "data")
    for entry in entries.iterator(chunk_size=500):
        data = rotated_tokens(entry.data)
        if data != entry.data:
            with transaction.atomic():
                TimelineEntry.all_tenants.filter(pk=entry.pk).update(data=data)
            done += 1
    return done
