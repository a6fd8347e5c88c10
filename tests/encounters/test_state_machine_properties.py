"""Encounter state machine properties (hypothesis): any sequence of commands, legal or not.

Contract §4: SCHEDULED → CHECKED_IN → IN_CONSULT → CLOSED; SCHEDULED | CHECKED_IN → CANCELLED.
A random walk of decisions never takes an edge outside that graph, and every refused command
raises the coded error (`invalid_transition` naming the state, or `close_gate_failed`) and
changes nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hm_core.common.errors import HmError
from hm_core.encounters import domain
from hm_core.encounters.news2 import Vitals

S, CI, IC, CL, CA = (
    domain.SCHEDULED,
    domain.CHECKED_IN,
    domain.IN_CONSULT,
    domain.CLOSED,
    domain.CANCELLED,
)
CONTRACT_EDGES = {(S, CI), (CI, IC), (IC, CL), (S, CA), (CI, CA)}
NEXT_STATUS = {
    "encounter.checked_in": CI,
    "encounter.consult_started": IC,
    "encounter.closed": CL,
    "encounter.cancelled": CA,
}
VITALS = Vitals(
    blood_pressure_systolic=120, blood_pressure_diastolic=80, pulse=72,
    temperature=Decimal("98.6"), spo2=98, respiratory_rate=16,
)  # fmt: skip
COMMANDS = {
    "check_in": domain.check_in,
    "start_consult": domain.start_consult,
    "record_vitals": lambda s: domain.record_vitals(s, vitals_id=uuid.uuid4(), vitals=VITALS),
    "record_assessment": lambda s: domain.record_assessment(s, assessment="stable"),
    "record_plan": lambda s: domain.record_plan(s, plan="review in a week"),
    "close": lambda s: domain.close(s, failed_rules=[]),
    "close_with_failed_rule": lambda s: domain.close(s, failed_rules=["plan_recorded"]),
    "cancel": lambda s: domain.cancel(s, reason="no show"),
}


def evolve(state: domain.EncounterState, event) -> domain.EncounterState:
    """What the encounter's snapshot projection keeps of one event."""
    return dataclasses.replace(
        state,
        status=NEXT_STATUS.get(event.event_type, state.status),
        version=state.version + 1,
        vitals_count=state.vitals_count + (event.event_type == "encounter.vitals_recorded"),
        has_assessment=state.has_assessment or event.event_type == "encounter.assessment_recorded",
        has_plan=state.has_plan or event.event_type == "encounter.plan_recorded",
    )


def scheduled() -> domain.EncounterState:
    return domain.EncounterState(uuid.uuid4(), uuid.uuid4(), status=S, version=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(COMMANDS)), max_size=15))
def test_random_commands_only_take_the_contracts_edges(commands):
    # given a scheduled encounter
    state = scheduled()
    for name in commands:
        # when any command, legal or not
        before = state
        try:
            events = COMMANDS[name](state)
        except HmError as error:
            # then a refusal is coded and leaves the state as it was
            assert error.code in {"invalid_transition", "close_gate_failed"}
            if error.code == "invalid_transition":
                assert error.details["from"] == state.status
            continue
        for event in events:
            state = evolve(state, event)
        # then a status change is an edge of the contract's graph, and terminal states stay put
        assert state.status == before.status or (before.status, state.status) in CONTRACT_EDGES
        assert before.status not in (CL, CA)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(sorted(COMMANDS)))
def test_closed_and_cancelled_encounters_refuse_every_command(name):
    for terminal in (CL, CA):
        state = dataclasses.replace(scheduled(), status=terminal)
        try:
            COMMANDS[name](state)
        except HmError as error:
            assert error.code == "invalid_transition"
        else:
            raise AssertionError(f"{name} was allowed on a {terminal} encounter")


def test_the_model_walks_the_happy_path_so_the_properties_are_not_vacuous():
    state = scheduled()
    for name in ("check_in", "record_vitals", "start_consult", "record_plan", "close"):
        for event in COMMANDS[name](state):
            state = evolve(state, event)
    assert state.status == CL
    assert (state.vitals_count, state.has_plan) == (1, True)
