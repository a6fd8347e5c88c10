"""Lab result state machine properties (hypothesis): any sequence of commands, by anyone.

Contract §7: ENTERED → VERIFIED (never by whoever entered it: 403 `same_user_verification`)
→ RELEASED → CORRECTED, and a correction of a correction is another CORRECTED version. A random
walk never takes another edge, never loses a version, and every refusal is coded.
"""

from __future__ import annotations

import dataclasses
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from hm_core.common.errors import HmError
from hm_core.lab import domain

E, V, RL, C = domain.ENTERED, domain.VERIFIED, domain.RELEASED, domain.CORRECTED
CONTRACT_EDGES = {(E, V), (V, RL), (RL, C), (C, C)}
ENTERER, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)
NEXT_STATUS = {"lab.result_verified": V, "lab.result_released": RL, "lab.result_corrected": C}
CODES = {"invalid_transition", "same_user_verification", "forbidden"}

command = st.one_of(
    st.tuples(st.just("verify"), st.sampled_from((ENTERER, OTHER, None))),
    st.tuples(st.just("release"), st.none()),
    st.tuples(st.just("correct"), st.none()),
)


def decide(state: domain.ResultState, name: str, user: uuid.UUID | None) -> list:
    if name == "verify":
        return domain.verify(state, user_id=user)
    if name == "release":
        return domain.release(state)
    return domain.correct(state, values=[], client_critical=False, comment="", reason="typo")


def entered() -> domain.ResultState:
    ids = [uuid.uuid4() for _ in range(5)]
    return domain.ResultState(
        *ids, service_code="K", status=E, version=1, versions=1, values=(),
        is_critical=False, entered_by_id=ENTERER,
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(command, max_size=12))
def test_random_result_commands_only_take_the_contracts_edges(commands):
    # given an entered result
    state = entered()
    for name, user in commands:
        before = state
        # when any command by anyone
        try:
            events = decide(state, name, user)
        except HmError as error:
            # then a refusal is coded and nothing changes
            assert error.code in CODES
            if error.code == "invalid_transition":
                assert error.details["from"] == state.status
            continue
        for event in events:
            versions = state.versions + (event.event_type == "lab.result_corrected")
            state = dataclasses.replace(
                state, status=NEXT_STATUS[event.event_type], versions=versions
            )
        # then only the contract's edges; verification by a second person; versions only grow
        assert (before.status, state.status) in CONTRACT_EDGES
        assert name != "verify" or user not in (ENTERER, None)
        assert state.versions == before.versions + (name == "correct")
