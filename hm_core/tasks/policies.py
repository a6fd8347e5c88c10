"""The OPD workflow: tasks opened and closed by encounter events (skipped on replay)."""

from __future__ import annotations

from hm_core.common.scope import scope_active
from hm_core.encounters.events import (
    ConsultStarted,
    EncounterCancelled,
    EncounterCheckedIn,
    EncounterClosed,
    VitalsRecorded,
)
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.tasks.lab_policies import LABORATORY_KINDS
from hm_core.tasks.selectors import task_exists
from hm_core.tasks.services import task_open, tasks_close_by_workflow

RECORD_VITALS, CONSULT = "record_vitals", "consult"


@subscribe(EncounterCheckedIn, stage=Stage.POLICY)
def vitals_task_open_when_checked_in(event: EncounterCheckedIn, meta: EventMeta) -> None:
    """A checked-in patient needs vitals: a task in the nursing queue."""
    task_open(
        scope=meta.scope,
        kind=RECORD_VITALS,
        queue="nursing",
        title="Record vitals",
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
    )


@subscribe(VitalsRecorded, stage=Stage.POLICY)
def consult_task_open_when_vitals_recorded(event: VitalsRecorded, meta: EventMeta) -> None:
    """Vitals done: the nursing task is complete and the doctor's consult task opens (once)."""
    scope = meta.scope
    tasks_close_by_workflow(
        scope=scope, outcome="done", encounter_id=event.encounter_id, kind=RECORD_VITALS
    )
    with scope_active(scope):
        if task_exists(scope=scope, encounter_id=event.encounter_id, kind=CONSULT):
            return  # repeated vitals: the doctor has (or already had) the consult task
    task_open(
        scope=scope,
        kind=CONSULT,
        queue="doctor",
        title="See patient (consultation)",
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
    )


@subscribe(ConsultStarted, stage=Stage.POLICY)
def consult_task_complete_when_consult_started(event: ConsultStarted, meta: EventMeta) -> None:
    """The consultation the task asked for has begun."""
    tasks_close_by_workflow(
        scope=meta.scope, outcome="done", encounter_id=event.encounter_id, kind=CONSULT
    )


@subscribe(EncounterClosed, EncounterCancelled, stage=Stage.POLICY)
def tasks_cancel_when_encounter_ends(
    event: EncounterClosed | EncounterCancelled, meta: EventMeta
) -> None:
    """The visit's own work is over; laboratory work for its orders goes on (results may
    still arrive after the patient has gone home)."""
    tasks_close_by_workflow(
        scope=meta.scope,
        outcome="cancel",
        encounter_id=event.encounter_id,
        except_kinds=LABORATORY_KINDS,
        reason=f"encounter {meta.event_type.split('.')[1]}",
    )
