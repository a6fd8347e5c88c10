"""Alert read-model projections."""

from __future__ import annotations

from hm_core.alerts import domain
from hm_core.alerts.events import AlertAcknowledged, AlertRaised
from hm_core.alerts.models import Alert
from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert

rebuildable("alerts", Alert)


@subscribe(AlertRaised)
def alert_apply_raised(event: AlertRaised, meta: EventMeta) -> None:
    upsert(
        Alert,
        id=event.alert_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "encounter_id": event.encounter_id,
            "patient_id": event.patient_id,
            "kind": event.kind,
            "severity": event.severity,
            "status": domain.OPEN,
            "message": event.message,
            "source_type": event.source_type,
            "source_id": event.source_id,
            "source_version": event.source_version,
            "assignee_id": event.assignee_id,
            "assignee": event.assignee,
            "findings": [finding.model_dump(mode="json") for finding in event.findings],
            "raised_at": meta.occurred_at,
            "version": meta.stream_version,
        },
    )


@subscribe(AlertAcknowledged)
def alert_apply_acknowledged(event: AlertAcknowledged, meta: EventMeta) -> None:
    update(
        Alert.all_tenants.filter(id=event.alert_id, tenant_id=meta.tenant_id),
        status=domain.ACKNOWLEDGED,
        acknowledged_at=meta.occurred_at,
        acknowledged_by_id=meta.actor_id,
        acknowledged_by=meta.actor_username,
        acknowledge_note=event.note,
        version=meta.stream_version,
    )
