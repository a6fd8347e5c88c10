"""Audit projection: every event becomes an audit record, in the event's own transaction."""

from __future__ import annotations

from hm_core.audit.models import AuditRecord
from hm_core.events.base import DomainEvent, EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.events.unit_of_work import insert


@subscribe(all_events=True, stage=Stage.AUDIT)
def audit_apply_event(event: DomainEvent, meta: EventMeta) -> None:
    """Record who did what to which patient; keyed on the event id so a replay adds nothing."""
    insert(
        AuditRecord,
        AuditRecord(
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            kind=AuditRecord.Kind.EVENT,
            action=meta.event_type,
            event_id=meta.event_id,
            position=meta.position,
            patient_id=event.patient_ref(),
            actor_id=meta.actor_id,
            actor_username=meta.actor_username,
            request_id=meta.request_id or "",
            ip=meta.ip or "",
            user_agent=meta.user_agent or "",
            occurred_at=meta.recorded_at,
            detail={"stream": {"type": meta.stream.type, "id": str(meta.stream.id)}},
        ),
    )
