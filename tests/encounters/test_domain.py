"""Encounter decisions without a database: every action from every state, and the close gate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.encounters import domain
from hm_core.encounters.errors import CloseGateFailed
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
from hm_core.encounters.news2 import Vitals

ENCOUNTER_ID = uuid.UUID("00000000-0000-0000-0000-0000000000e1")
PATIENT_ID = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
VITALS_ID = uuid.UUID("00000000-0000-0000-0000-0000000000b1")
HEALTHY = Vitals(
    blood_pressure_systolic=120,
    blood_pressure_diastolic=80,
    pulse=72,
    temperature=Decimal("98.6"),
    spo2=98,
    respiratory_rate=16,
)
IMPOSSIBLE = Vitals(
    blood_pressure_systolic=80,
    blood_pressure_diastolic=90,
    pulse=10,
    temperature=Decimal("120"),
    spo2=101,
)


def state(status: str, **fields: Any) -> domain.EncounterState:
    return domain.EncounterState(
        encounter_id=ENCOUNTER_ID, patient_id=PATIENT_ID, status=status, version=3, **fields
    )


# The eight actions: the seven decisions, and close when a close-gate rule failed (the state
# check comes first, so from a wrong state that is an invalid transition, not a gate failure).
ACTIONS: dict[str, Callable[[domain.EncounterState], list[Any]]] = {
    "check_in": domain.check_in,
    "record_vitals": lambda s: domain.record_vitals(s, vitals_id=VITALS_ID, vitals=HEALTHY),
    "start_consult": domain.start_consult,
    "record_assessment": lambda s: domain.record_assessment(s, assessment="URTI"),
    "record_plan": lambda s: domain.record_plan(s, plan="Rest"),
    "close": lambda s: domain.close(s, failed_rules=[]),
    "close_with_failed_rules": lambda s: domain.close(s, failed_rules=["plan_recorded"]),
    "cancel": lambda s: domain.cancel(s, reason="Patient called off"),
}
# action -> {state it is allowed from: the event class it produces}
ALLOWED: dict[str, dict[str, type]] = {
    "check_in": {"SCHEDULED": EncounterCheckedIn},
    "record_vitals": {"CHECKED_IN": VitalsRecorded, "IN_CONSULT": VitalsRecorded},
    "start_consult": {"CHECKED_IN": ConsultStarted},
    "record_assessment": {"IN_CONSULT": AssessmentRecorded},
    "record_plan": {"IN_CONSULT": PlanRecorded},
    "close": {"IN_CONSULT": EncounterClosed},
    "close_with_failed_rules": {},  # from IN_CONSULT it fails the gate, tested below
    "cancel": {"SCHEDULED": EncounterCancelled, "CHECKED_IN": EncounterCancelled},
}
GATE_FAILS = {("close_with_failed_rules", "IN_CONSULT")}
ALL_PAIRS = [(action, status) for action in ACTIONS for status in domain.STATUSES]


def test_statuses_are_the_contracts_five() -> None:
    assert domain.STATUSES == ("SCHEDULED", "CHECKED_IN", "IN_CONSULT", "CLOSED", "CANCELLED")


@pytest.mark.parametrize(
    ("action", "status"),
    [p for p in ALL_PAIRS if p[1] in ALLOWED[p[0]]],
)
def test_allowed_action_produces_one_event_for_the_encounter(action: str, status: str) -> None:
    # when
    events = ACTIONS[action](state(status))

    # then
    assert [type(e) for e in events] == [ALLOWED[action][status]]
    assert events[0].encounter_id == ENCOUNTER_ID
    assert events[0].patient_id == PATIENT_ID


@pytest.mark.parametrize(
    ("action", "status"),
    [p for p in ALL_PAIRS if p[1] not in ALLOWED[p[0]] and p not in GATE_FAILS],
)
def test_illegal_action_raises_invalid_transition_naming_the_state(
    action: str, status: str
) -> None:
    with pytest.raises(InvalidTransition) as caught:
        ACTIONS[action](state(status))

    assert caught.value.code == "invalid_transition"
    assert caught.value.status == 409
    assert caught.value.details["from"] == status
    assert status in caught.value.message


def test_every_pair_of_the_matrix_is_covered() -> None:
    allowed = {(a, s) for a, states in ALLOWED.items() for s in states}
    assert len(ACTIONS) == 8 and len(ALL_PAIRS) == 40
    assert allowed | GATE_FAILS <= set(ALL_PAIRS)
    assert len(allowed) == 9  # so 30 pairs are illegal


def test_encounter_close_fails_with_the_failed_rule_codes_in_order() -> None:
    failed = ["vitals_recorded", "assessment_recorded", "plan_recorded"]

    with pytest.raises(CloseGateFailed) as caught:
        domain.close(state("IN_CONSULT"), failed_rules=failed)

    assert caught.value.code == "close_gate_failed"
    assert caught.value.status == 409
    assert caught.value.details == failed


def test_encounter_close_fails_when_plan_missing() -> None:
    with pytest.raises(CloseGateFailed) as caught:
        domain.close(
            state("IN_CONSULT", vitals_count=1, has_assessment=True), failed_rules=["plan_recorded"]
        )

    assert caught.value.details == ["plan_recorded"]


def test_create_schedules_the_visit() -> None:
    when = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)

    events = domain.create(
        encounter_id=ENCOUNTER_ID, patient_id=PATIENT_ID, reason="Cough", scheduled_at=when
    )

    assert events == [
        EncounterCreated(
            encounter_id=ENCOUNTER_ID, patient_id=PATIENT_ID, reason="Cough", scheduled_at=when
        )
    ]


@pytest.mark.parametrize("status", ["SCHEDULED", "CHECKED_IN"])
def test_cancel_remembers_the_state_it_cancelled_from(status: str) -> None:
    (event,) = domain.cancel(state(status), reason="No show")

    assert event.from_status == status and event.reason == "No show"


def test_record_vitals_carries_the_news2_score() -> None:
    (event,) = domain.record_vitals(state("CHECKED_IN"), vitals_id=VITALS_ID, vitals=HEALTHY)

    assert event.vitals_id == VITALS_ID
    assert (event.news2_total, event.news2_risk, event.news2_alert) == (0, "low", False)
    assert event.temperature == "98.6" and event.temperature_unit == "F"


@pytest.mark.parametrize("status", ["CHECKED_IN", "IN_CONSULT"])
def test_record_vitals_refuses_impossible_values_naming_every_field(status: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        domain.record_vitals(state(status), vitals_id=VITALS_ID, vitals=IMPOSSIBLE)

    assert caught.value.code == "validation_error"
    assert {d["field"] for d in caught.value.details} == {
        "blood_pressure_diastolic",
        "pulse",
        "temperature",
        "spo2",
    }


@pytest.mark.parametrize("status", ["SCHEDULED", "CLOSED", "CANCELLED"])
def test_record_vitals_checks_the_state_before_the_values(status: str) -> None:
    with pytest.raises(InvalidTransition) as caught:
        domain.record_vitals(state(status), vitals_id=VITALS_ID, vitals=IMPOSSIBLE)

    assert caught.value.details["from"] == status


def test_close_gate_facts_describe_the_visit() -> None:
    s = state("IN_CONSULT", vitals_count=2, has_assessment=True, latest_news2=5)

    facts = domain.close_gate_facts(s, open_critical_alerts=1)

    assert facts == {
        "status": "IN_CONSULT",
        "vitals_recorded": True,
        "vitals_count": 2,
        "assessment_recorded": True,
        "plan_recorded": False,
        "latest_news2": 5,
        "open_critical_alerts": 1,
    }
