"""Encounter read-model projections: replayable upserts keyed on ids from the events."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Subquery

from hm_core.encounters import domain
from hm_core.encounters.events import (
    AssessmentRecorded,
    ConsultStarted,
    EncounterCancelled,
    EncounterCheckedIn,
    EncounterClosed,
    EncounterCreated,
    PlanRecorded,
    VitalsRecorded,
)
from hm_core.encounters.models import Encounter, VitalsRecord
from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert

rebuildable("encounters", Encounter, VitalsRecord)


@subscribe(EncounterCreated)
def encounter_apply_created(event: EncounterCreated, meta: EventMeta) -> None:
    upsert(
        Encounter,
        id=event.encounter_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "patient_id": event.patient_id,
            "status": domain.SCHEDULED,
            "reason": event.reason,
            "visit_number": event.visit_number,
            "scheduled_at": event.scheduled_at,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(EncounterCheckedIn)
def encounter_apply_checked_in(event: EncounterCheckedIn, meta: EventMeta) -> None:
    _touch(meta, status=domain.CHECKED_IN, checked_in_at=meta.occurred_at)


@subscribe(VitalsRecorded)
def encounter_apply_vitals_recorded(event: VitalsRecorded, meta: EventMeta) -> None:
    """Store the vitals row and keep the encounter's latest NEWS2 and vitals count."""
    upsert(
        VitalsRecord,
        id=event.vitals_id,
        defaults=_vitals_fields(event, meta),
    )
    # Counted by the UPDATE itself, after the queued insert: no read, no flush in between.
    count = (
        VitalsRecord.all_tenants.filter(tenant_id=meta.tenant_id, encounter_id=event.encounter_id)
        .order_by()
        .values("encounter_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    _touch(meta, vitals_count=Subquery(count), latest_news2=event.news2_total)


def _vitals_fields(event: VitalsRecorded, meta: EventMeta) -> dict[str, Any]:
    fields = event.model_dump(exclude={"vitals_id", "news2_alert"})
    return {
        **fields,
        "tenant_id": meta.tenant_id,
        "facility_id": meta.facility_id,
        "recorded_at": meta.occurred_at,
        "recorded_by": meta.actor_username,
    }


@subscribe(ConsultStarted)
def encounter_apply_consult_started(event: ConsultStarted, meta: EventMeta) -> None:
    _touch(meta, status=domain.IN_CONSULT, consult_started_at=meta.occurred_at)


@subscribe(AssessmentRecorded)
def encounter_apply_assessment_recorded(event: AssessmentRecorded, meta: EventMeta) -> None:
    _touch(
        meta,
        assessment=event.assessment,
        diagnoses=[diagnosis.model_dump() for diagnosis in event.diagnoses],
    )


@subscribe(PlanRecorded)
def encounter_apply_plan_recorded(event: PlanRecorded, meta: EventMeta) -> None:
    _touch(meta, plan=event.plan)


@subscribe(EncounterClosed)
def encounter_apply_closed(event: EncounterClosed, meta: EventMeta) -> None:
    _touch(meta, status=domain.CLOSED, closed_at=meta.occurred_at)


@subscribe(EncounterCancelled)
def encounter_apply_cancelled(event: EncounterCancelled, meta: EventMeta) -> None:
    _touch(meta, status=domain.CANCELLED, cancelled_at=meta.occurred_at, cancel_reason=event.reason)


def _touch(meta: EventMeta, **fields: object) -> None:
    update(
        Encounter.all_tenants.filter(id=meta.stream.id, tenant_id=meta.tenant_id),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
