"""backfill_encounter_events: legacy encounters (state without events) get their history, once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.core.management import call_command

from hm_core.encounters.models import Encounter, VitalsRecord
from hm_core.events.chain import verify_chain
from hm_core.events.models import Event
from hm_core.patients.services import patient_register
from hm_core.tasks.models import Task
from hm_core.timeline.models import TimelineEntry

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def legacy_encounter(world, patient_id, *, status="CLOSED"):
    """A visit imported straight into the read model by a legacy migration: no events."""
    closed = status == "CLOSED"
    encounter = Encounter.all_tenants.create(
        tenant_id=world.tenant.id,
        facility_id=world.main.id,
        patient_id=patient_id,
        status=status,
        reason="legacy visit",
        scheduled_at=T0,
        checked_in_at=T0 + timedelta(minutes=5),
        consult_started_at=T0 + timedelta(minutes=20) if closed else None,
        closed_at=T0 + timedelta(minutes=40) if closed else None,
        cancelled_at=None if closed else T0 + timedelta(minutes=10),
        cancel_reason="" if closed else "left",
        assessment="asthma" if closed else "",
        plan="inhaler" if closed else "",
        vitals_count=1,
        latest_news2=0,
        version=1,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=40),
    )
    VitalsRecord.all_tenants.create(
        id=uuid.uuid4(),
        tenant_id=world.tenant.id,
        facility_id=world.main.id,
        encounter_id=encounter.id,
        patient_id=patient_id,
        blood_pressure_systolic=118,
        blood_pressure_diastolic=76,
        pulse=70,
        temperature=Decimal("36.8"),
        temperature_unit="C",
        spo2=97,
        respiratory_rate=14,
        consciousness="A",
        supplemental_oxygen=False,
        news2_total=0,
        news2_parameters={},
        news2_risk="low",
        news2_complete=True,
        recorded_at=T0 + timedelta(minutes=8),
        recorded_by="legacy",
    )
    return encounter


def test_backfill_synthesizes_history_once_and_fires_no_workflow(world, capsys):
    # given two legacy encounters and one live one
    scope = world.scope("nurse")
    patient = patient_register(
        scope=scope,
        demographics={
            "full_name": "Old Timer",
            "mrn": "LEG-1",
            "date_of_birth": date(1940, 2, 2),
            "gender": "M",
            "phone": "",
            "email": "",
            "address": "",
        },
    )
    closed = legacy_encounter(world, patient.id)
    cancelled = legacy_encounter(world, patient.id, status="CANCELLED")
    events_before = Event.objects.count()

    # when
    call_command("backfill_encounter_events")
    first = capsys.readouterr().out
    call_command("backfill_encounter_events")
    second = capsys.readouterr().out

    # then the implied events are appended at the recorded times, in order, once
    types = list(
        Event.objects.filter(stream_id=closed.id)
        .order_by("stream_version")
        .values_list("type", flat=True)
    )
    assert types == [
        "encounter.created",
        "encounter.checked_in",
        "encounter.vitals_recorded",
        "encounter.consult_started",
        "encounter.assessment_recorded",
        "encounter.plan_recorded",
        "encounter.closed",
    ]
    cancel_types = list(
        Event.objects.filter(stream_id=cancelled.id)
        .order_by("stream_version")
        .values_list("type", flat=True)
    )
    assert cancel_types == [
        "encounter.created",
        "encounter.checked_in",
        "encounter.vitals_recorded",
        "encounter.cancelled",
    ]
    assert "2 encounter(s) backfilled, 11 event(s) appended" in first
    assert "0 encounter(s) backfilled, 0 event(s) appended" in second
    assert Event.objects.count() == events_before + 11
    closed_at = Event.objects.get(stream_id=closed.id, type="encounter.closed").occurred_at
    assert closed_at == T0 + timedelta(minutes=40)
    # the read model keeps its state, timelines fill in, and no task opened for old visits
    closed.refresh_from_db()
    assert (closed.status, closed.version, closed.assessment) == ("CLOSED", 7, "asthma")
    assert TimelineEntry.all_tenants.filter(encounter_id=closed.id).count() == 7
    assert not Task.all_tenants.filter(encounter_id__in=[closed.id, cancelled.id]).exists()
    assert verify_chain(world.tenant.id).ok
