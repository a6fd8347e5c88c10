"""Backfill: synthesize the events of encounters that have state but no events.

Encounters imported straight into the read model (a legacy migration, a restore from another
system) have no history. `encounter_backfill` appends the events their state implies — created,
checked in, vitals, consult started, assessment, plan, closed or cancelled — at the times the
row records, then replays them through projections only: timelines and audit fill in, and no
workflow fires (no tasks, no alerts) for visits that happened long ago. An encounter that
already has events is left alone, so running the backfill twice appends nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from django.db import transaction

from hm_core.common.scope import Principal, RequestContext, Scope
from hm_core.encounters import domain
from hm_core.encounters.events import (
    AssessmentRecorded,
    ConsultStarted,
    Diagnosis,
    EncounterCancelled,
    EncounterCheckedIn,
    EncounterClosed,
    EncounterCreated,
    EncounterEvent,
    PlanRecorded,
    VitalsRecorded,
)
from hm_core.encounters.models import Encounter, VitalsRecord
from hm_core.encounters.news2 import Vitals
from hm_core.events import bus, store
from hm_core.events.base import StreamRef
from hm_core.events.models import Event
from hm_core.events.unit_of_work import new_id

BACKFILL = Principal.system("backfill")


def encounters_without_events(tenant_id: uuid.UUID | None = None) -> Iterator[Encounter]:
    """Encounter rows whose stream holds no event (cross-tenant: an operator's command)."""
    with_events = Event.objects.filter(stream_type="encounter").values("stream_id")
    rows = Encounter.all_tenants.exclude(id__in=with_events)
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    return rows.order_by("tenant_id", "created_at", "id").iterator(chunk_size=500)


def encounter_backfill(*, tenant_id: uuid.UUID | None = None) -> tuple[int, int]:
    """Backfill every encounter lacking events; returns (encounters, events appended)."""
    encounters = events = 0
    run = RequestContext(request_id=f"backfill-{uuid.uuid4()}")
    for encounter in encounters_without_events(tenant_id):
        events += _backfill_one(encounter, run)
        encounters += 1
    return encounters, events


@transaction.atomic
def _backfill_one(encounter: Encounter, run: RequestContext) -> int:
    scope = Scope(encounter.tenant_id, encounter.facility_id, BACKFILL, run)
    stream = StreamRef("encounter", encounter.id)
    if store.stream_version(encounter.tenant_id, encounter.id):
        return 0  # another run got here first
    history = sorted(implied_events(encounter), key=lambda pair: pair[0])
    for version, (occurred_at, event) in enumerate(history):
        [recorded] = store.append(
            scope=scope,
            stream=stream,
            expected_version=version,
            events=[event],
            occurred_at=occurred_at,
        )
        bus.replay(recorded)
    return len(history)


def implied_events(encounter: Encounter) -> list[tuple[datetime, EncounterEvent]]:
    """The events an encounter's state implies, each with the time the row records for it."""
    ids = {"encounter_id": encounter.id, "patient_id": encounter.patient_id}
    created = encounter.created_at
    implied: list[tuple[datetime, EncounterEvent]] = [
        (
            created,
            EncounterCreated(
                encounter_id=encounter.id,
                patient_id=encounter.patient_id,
                reason=encounter.reason,
                scheduled_at=encounter.scheduled_at,
                visit_number=encounter.visit_number,
            ),
        )
    ]
    if encounter.checked_in_at:
        implied.append((encounter.checked_in_at, EncounterCheckedIn(**ids)))
    implied += [(v.recorded_at, _vitals_event(encounter, v)) for v in _vitals_of(encounter)]
    consult = encounter.consult_started_at
    if consult:
        implied.append((consult, ConsultStarted(**ids)))
    after_consult = consult or encounter.updated_at
    if encounter.assessment:
        assessment = AssessmentRecorded(
            encounter_id=encounter.id,
            patient_id=encounter.patient_id,
            assessment=encounter.assessment,
            diagnoses=tuple(Diagnosis(**d) for d in encounter.diagnoses),
        )
        implied.append((after_consult, assessment))
    if encounter.plan:
        implied.append((after_consult, PlanRecorded(**ids, plan=encounter.plan)))
    if encounter.status == domain.CLOSED:
        implied.append((encounter.closed_at or encounter.updated_at, EncounterClosed(**ids)))
    if encounter.status == domain.CANCELLED:
        from_status = domain.CHECKED_IN if encounter.checked_in_at else domain.SCHEDULED
        cancelled = EncounterCancelled(
            **ids, reason=encounter.cancel_reason or "unknown", from_status=from_status
        )
        implied.append((encounter.cancelled_at or encounter.updated_at, cancelled))
    return implied


def _vitals_of(encounter: Encounter) -> list[VitalsRecord]:
    return list(
        VitalsRecord.all_tenants.filter(
            tenant_id=encounter.tenant_id, encounter_id=encounter.id
        ).order_by("recorded_at", "id")
    )


def _vitals_event(encounter: Encounter, v: VitalsRecord) -> VitalsRecorded:
    """The vitals event of a stored row, scored again so the event carries its NEWS2."""
    vitals = Vitals(
        blood_pressure_systolic=v.blood_pressure_systolic,
        blood_pressure_diastolic=v.blood_pressure_diastolic,
        pulse=v.pulse,
        temperature=v.temperature,
        temperature_unit=v.temperature_unit,
        spo2=v.spo2,
        respiratory_rate=v.respiratory_rate,
        consciousness=v.consciousness,
        supplemental_oxygen=v.supplemental_oxygen,
    )
    return domain.vitals_recorded(
        encounter_id=encounter.id, patient_id=encounter.patient_id, vitals_id=v.id, vitals=vitals
    )


def encounter_import_history(
    *,
    scope: Scope,
    patient_id: uuid.UUID,
    reason: str,
    visit_number: str,
    start: datetime,
    end: datetime | None,
) -> uuid.UUID:
    """Record a visit that happened elsewhere (a FHIR import) as CLOSED history: created,
    checked in and closed at its own times, replayed through projections only like a backfill,
    so timelines and audit fill in and no workflow fires (no tasks, no alerts)."""
    scope.require("encounters.create")
    encounter_id = new_id()
    ids = {"encounter_id": encounter_id, "patient_id": patient_id}
    created = EncounterCreated(**ids, reason=reason, scheduled_at=start, visit_number=visit_number)
    history: list[tuple[datetime, EncounterEvent]] = [
        (start, created),
        (start, EncounterCheckedIn(**ids)),
        (end or start, EncounterClosed(**ids)),
    ]
    stream = StreamRef("encounter", encounter_id)
    with transaction.atomic():
        for version, (occurred_at, event) in enumerate(history):
            [recorded] = store.append(
                scope=scope,
                stream=stream,
                expected_version=version,
                events=[event],
                occurred_at=occurred_at,
            )
            bus.replay(recorded)
    return encounter_id
