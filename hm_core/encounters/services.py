"""Encounter write use-cases: one service per transition, each an event on the encounter stream."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from django.db import IntegrityError, transaction

from hm_core.alerts.selectors import open_critical_alert_count
from hm_core.audit.services import audited_read
from hm_core.common.db import violates
from hm_core.common.errors import Conflict, NotFound
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters import domain, news2
from hm_core.encounters.events import Diagnosis, EncounterEvent
from hm_core.encounters.models import Encounter, VitalsRecord
from hm_core.encounters.selectors import (
    encounter_find_by_visit_number,
    encounter_get,
    vitals_get,
)
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.events.unit_of_work import new_id, written_row
from hm_core.patients.selectors import patient_get, patient_visible_ids
from hm_core.rules.domain import failed_codes
from hm_core.rules.selectors import CLOSE_GATE, rule_set
from hm_core.timeline.selectors import TimelinePage, timeline_for_encounter

STREAM = "encounter"
Decision = Callable[[domain.EncounterState], list[EncounterEvent]]


def state_of(encounter: Encounter) -> domain.EncounterState:
    """The decision state, read from the encounter's snapshot row."""
    return domain.EncounterState(
        encounter_id=encounter.id,
        patient_id=encounter.patient_id,
        status=encounter.status,
        version=encounter.version,
        vitals_count=encounter.vitals_count,
        has_assessment=bool(encounter.assessment),
        has_plan=bool(encounter.plan),
        latest_news2=encounter.latest_news2,
    )


def encounter_create(
    *,
    scope: Scope,
    patient_id: uuid.UUID,
    reason: str,
    scheduled_at: datetime,
    visit_number: str = "",
    encounter_id: uuid.UUID | None = None,
) -> Encounter:
    """Schedule a visit for a patient of the tenant at the caller's facility; a visit number
    (another system's, e.g. HL7 PV1-19) is unique per facility: 409 `duplicate_visit_number`.
    `encounter_id` is given when an event already named the visit (an appointment's check-in)."""
    scope.require("encounters.create")
    with scope_active(scope), transaction.atomic():
        patient_get(scope=scope, patient_id=patient_id)
        if visit_number and encounter_find_by_visit_number(scope=scope, visit_number=visit_number):
            raise Conflict(
                "An encounter with this visit number exists.", code="duplicate_visit_number"
            )
        encounter_id = encounter_id or new_id()
        events = domain.create(
            encounter_id=encounter_id,
            patient_id=patient_id,
            reason=reason,
            scheduled_at=scheduled_at,
            visit_number=visit_number,
        )
        with _unique_visit_number():
            publish(
                scope=scope,
                stream=StreamRef(STREAM, encounter_id),
                expected_version=0,
                events=events,
            )
        return encounter_get(scope=scope, encounter_id=encounter_id)


@contextmanager
def _unique_visit_number() -> Iterator[None]:
    """Turn a lost race on one visit number into the same 409 as the check before it."""
    try:
        yield
    except IntegrityError as exc:
        if violates(exc, constraint="encounters_visit_number_uniq", columns=("visit_number",)):
            raise Conflict(
                "An encounter with this visit number exists.", code="duplicate_visit_number"
            ) from exc
        raise


def _transition(
    *,
    scope: Scope,
    permission: str,
    encounter_id: uuid.UUID,
    expected_version: int | None,
    decide: Decision,
) -> Encounter:
    """One state change of the encounter (see `run_command`)."""
    return run_command(
        scope=scope,
        permission=permission,
        stream_type=STREAM,
        load=lambda: encounter_get(scope=scope, encounter_id=encounter_id),
        decide=lambda encounter: decide(state_of(encounter)),
        expected_version=expected_version,
    )


def encounter_check_in(
    *, scope: Scope, encounter_id: uuid.UUID, expected_version: int | None = None
) -> Encounter:
    """The patient has arrived (SCHEDULED → CHECKED_IN)."""
    return _transition(
        scope=scope,
        permission="encounters.check_in",
        encounter_id=encounter_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.check_in(s)),
    )


def encounter_record_vitals(
    *,
    scope: Scope,
    encounter_id: uuid.UUID,
    vitals: news2.Vitals,
    expected_version: int | None = None,
) -> VitalsRecord:
    """Record vital signs with their NEWS2 score; impossible values are refused (422)."""
    vitals_id = uuid.uuid4()
    encounter = _transition(
        scope=scope,
        permission="encounters.record_vitals",
        encounter_id=encounter_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.record_vitals(s, vitals_id=vitals_id, vitals=vitals)),
    )
    record = written_row(VitalsRecord, vitals_id)  # the row its projection wrote
    if record is None:
        with scope_active(scope):
            record = vitals_get(scope=scope, vitals_id=vitals_id)
    # The client's next If-Match on the encounter needs the version this write produced.
    record.encounter_version = encounter.version  # type: ignore[attr-defined]
    return record


def encounter_start_consult(
    *, scope: Scope, encounter_id: uuid.UUID, expected_version: int | None = None
) -> Encounter:
    """The clinician begins the consultation (CHECKED_IN → IN_CONSULT)."""
    return _transition(
        scope=scope,
        permission="encounters.start_consult",
        encounter_id=encounter_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.start_consult(s)),
    )


def encounter_record_assessment(
    *,
    scope: Scope,
    encounter_id: uuid.UUID,
    assessment: str,
    diagnoses: Sequence[Diagnosis] = (),
    expected_version: int | None = None,
) -> Encounter:
    """Record the clinician's assessment, with its ICD-10 diagnoses, during the consultation."""
    return _transition(
        scope=scope,
        permission="encounters.record_assessment",
        encounter_id=encounter_id,
        expected_version=expected_version,
        decide=lambda s: list(
            domain.record_assessment(s, assessment=assessment, diagnoses=tuple(diagnoses))
        ),
    )


def encounter_record_plan(
    *, scope: Scope, encounter_id: uuid.UUID, plan: str, expected_version: int | None = None
) -> Encounter:
    """Record the clinician's plan during the consultation."""
    return _transition(
        scope=scope,
        permission="encounters.record_plan",
        encounter_id=encounter_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.record_plan(s, plan=plan)),
    )


def encounter_close(
    *, scope: Scope, encounter_id: uuid.UUID, expected_version: int | None = None
) -> Encounter:
    """Close when every enabled close-gate rule of the tenant passes; else 409 with the codes."""

    def decide(state: domain.EncounterState) -> list[EncounterEvent]:
        alerts = open_critical_alert_count(scope=scope, encounter_id=state.encounter_id)
        facts = domain.close_gate_facts(state, open_critical_alerts=alerts)
        failed = failed_codes(rule_set(tenant_id=scope.tenant_id, name=CLOSE_GATE), facts)
        return list(domain.close(state, failed_rules=failed))

    return _transition(
        scope=scope,
        permission="encounters.close",
        encounter_id=encounter_id,
        expected_version=expected_version,
        decide=decide,
    )


def encounter_cancel(
    *, scope: Scope, encounter_id: uuid.UUID, reason: str, expected_version: int | None = None
) -> Encounter:
    """Cancel a visit that has not reached the consultation."""
    return _transition(
        scope=scope,
        permission="encounters.cancel",
        encounter_id=encounter_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.cancel(s, reason=reason)),
    )


def _readable_encounter(*, scope: Scope, encounter_id: uuid.UUID) -> Encounter:
    """The encounter, or 404 when its patient is confidential and hidden from the user (§18)."""
    encounter = encounter_get(scope=scope, encounter_id=encounter_id)
    if not patient_visible_ids(scope=scope, patient_ids=[encounter.patient_id]):
        raise NotFound(details={"resource": "encounter"})
    return encounter


def encounter_view(*, scope: Scope, encounter_id: uuid.UUID) -> Encounter:
    """Read one encounter (clinical data of a patient): the read is audited."""
    return audited_read(
        scope=scope,
        permission="encounters.view",
        action="encounter.viewed",
        load=lambda: _readable_encounter(scope=scope, encounter_id=encounter_id),
        patient_of=lambda encounter: encounter.patient_id,
        detail=lambda encounter: {"encounter_id": str(encounter.id)},
    )


def encounter_timeline_view(
    *, scope: Scope, encounter_id: uuid.UUID, after: int, limit: int
) -> TimelinePage:
    """One page of everything attached to the encounter, oldest first; the read is audited."""
    _, page = audited_read(
        scope=scope,
        permission="timelines.view",
        action="encounter.timeline_viewed",
        load=lambda: (
            _readable_encounter(scope=scope, encounter_id=encounter_id),
            timeline_for_encounter(
                scope=scope, encounter_id=encounter_id, after=after, limit=limit
            ),
        ),
        patient_of=lambda loaded: loaded[0].patient_id,
        detail=lambda loaded: {"encounter_id": str(loaded[0].id), "after": after},
    )
    return page
