"""Rebuild equals live: a seeded random OPD workload, snapshot, rebuild every projection, compare."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from hm_core.alerts.models import Alert
from hm_core.alerts.services import alert_acknowledge
from hm_core.common.errors import HmError
from hm_core.common.scope import scope_active
from hm_core.encounters import services as enc
from hm_core.encounters.models import Encounter, VitalsRecord
from hm_core.encounters.news2 import Vitals
from hm_core.events.replay import rebuild, rebuildable_modules
from hm_core.patients import services as pat
from hm_core.patients.models import Patient
from hm_core.tasks import services as tasks
from hm_core.tasks.models import Task
from hm_core.tasks.selectors import TaskFilters, task_list
from hm_core.timeline.models import TimelineEntry

READ_MODELS = [Patient, Encounter, VitalsRecord, Task, Alert, TimelineEntry]


def snapshot() -> dict[str, list[dict]]:
    return {
        model.__name__: [
            model_to_dict(row) | {"pk": row.pk} for row in model.all_tenants.order_by("pk")
        ]
        for model in READ_MODELS
    }


def random_vitals(rng: random.Random) -> Vitals:
    sick = rng.random() < 0.3
    return Vitals(
        blood_pressure_systolic=rng.choice([85, 95, 120, 135]) if sick else 120,
        blood_pressure_diastolic=70,
        pulse=rng.choice([45, 95, 125, 140]) if sick else 72,
        temperature=Decimal(rng.choice(["35.0", "37.0", "38.5", "39.5"]))
        if sick
        else Decimal("37.0"),
        temperature_unit="C",
        spo2=rng.choice([90, 93, 97]) if sick else 98,
        respiratory_rate=rng.choice([8, 22, 26]) if sick else 16,
        consciousness=rng.choice("AV") if sick else "A",
    )


def run_workload(world, seed: int, visits: int = 25) -> None:
    """Random visits that stop at random points, with cancels, tasks worked and alerts acked."""
    rng = random.Random(seed)
    nurse, doctor = world.scope("nurse"), world.scope("doctor")
    for i in range(visits):
        patient = pat.patient_register(
            scope=nurse,
            demographics={
                "full_name": f"Patient {i}",
                "mrn": f"R{seed}-{i}",
                "date_of_birth": date(1950 + i, 1, 1),
                "gender": rng.choice("MFOU"),
                "phone": "",
                "email": "",
                "address": "",
            },
        )
        if rng.random() < 0.2:
            pat.patient_update(
                scope=doctor,
                patient_id=patient.id,
                changes={"phone": "555 0100"},
                expected_version=None,
            )
        e = enc.encounter_create(
            scope=nurse,
            patient_id=patient.id,
            reason="visit",
            scheduled_at=datetime(2030, 1, 1, tzinfo=UTC) + timedelta(hours=i),
        )
        steps = _visit_steps(nurse, doctor, e.id, rng)
        for step in steps[: rng.randint(1, len(steps))]:
            try:
                step()
            except HmError:
                break
        if rng.random() < 0.15:
            with contextlib.suppress(HmError):  # only SCHEDULED/CHECKED_IN visits can cancel
                enc.encounter_cancel(scope=nurse, encounter_id=e.id, reason="left")
        _work_a_task(nurse, rng)


def _visit_steps(nurse, doctor, encounter_id, rng):
    """The OPD steps in order; a visit runs a random prefix of them."""
    return [
        lambda: enc.encounter_check_in(scope=nurse, encounter_id=encounter_id),
        lambda: enc.encounter_record_vitals(
            scope=nurse, encounter_id=encounter_id, vitals=random_vitals(rng)
        ),
        lambda: enc.encounter_start_consult(scope=doctor, encounter_id=encounter_id),
        lambda: enc.encounter_record_assessment(
            scope=doctor, encounter_id=encounter_id, assessment="a"
        ),
        lambda: enc.encounter_record_plan(scope=doctor, encounter_id=encounter_id, plan="p"),
        lambda: _ack_alerts(doctor, encounter_id),
        lambda: enc.encounter_close(scope=doctor, encounter_id=encounter_id),
    ]


def _ack_alerts(scope, encounter_id):
    with scope_active(scope):
        ids = list(
            Alert.objects.for_scope(scope)
            .filter(encounter_id=encounter_id, status="OPEN")
            .values_list("id", flat=True)
        )
    for alert_id in ids:
        alert_acknowledge(scope=scope, alert_id=alert_id, note="seen", expected_version=None)


def _work_a_task(scope, rng):
    with scope_active(scope):
        open_tasks = list(task_list(scope=scope, filters=TaskFilters(status="OPEN")))
    if open_tasks and rng.random() < 0.5:
        task = rng.choice(open_tasks)
        tasks.task_claim(scope=scope, task_id=task.id)
        if rng.random() < 0.5:
            tasks.task_start(scope=scope, task_id=task.id)


@pytest.mark.parametrize("seed", [7, 2026])
def test_rebuilding_every_projection_reproduces_the_live_rows(world, seed):
    # given a random workload, and the projections it built live
    run_workload(world, seed)
    live = snapshot()
    assert live["Task"] and live["TimelineEntry"] and live["Encounter"]
    # when
    report = rebuild(rebuildable_modules())
    # then
    assert report.events > 0
    assert snapshot() == live


def test_rebuild_projections_command_rebuilds_timelines_tasks_and_alerts(world, capsys):
    run_workload(world, seed=3, visits=8)
    live = snapshot()
    TimelineEntry.all_tenants.all().delete()
    Task.all_tenants.all().delete()
    call_command("rebuild_projections", "--no-progress")
    assert snapshot() == live
    assert "rebuild_projections: alerts, tasks, timeline rebuilt from" in capsys.readouterr().out
