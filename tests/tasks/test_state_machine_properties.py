"""Task state machine properties (hypothesis): any sequence of commands, by anyone.

Contract §5: OPEN → CLAIMED → IN_PROGRESS → DONE, or CANCELLED from any open state; the
workflow (no user) may complete any open task. A random walk never takes another edge, only
the assignee starts or completes a claimed task (403 `not_assignee`), and every other refusal
is 409 `invalid_transition` naming the state it was refused in.
"""

from __future__ import annotations

import dataclasses
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from hm_core.common.errors import HmError
from hm_core.tasks import domain

OP, CL, IP, D, CA = domain.OPEN, domain.CLAIMED, domain.IN_PROGRESS, domain.DONE, domain.CANCELLED
CONTRACT_EDGES = {(OP, CL), (CL, IP), (IP, D), (OP, CA), (CL, CA), (IP, CA), (OP, D), (CL, D)}
USERS = (uuid.UUID(int=1), uuid.UUID(int=2))
NEXT_STATUS = {"task.claimed": CL, "task.started": IP, "task.completed": D, "task.cancelled": CA}

command = st.one_of(
    st.tuples(st.just("claim"), st.sampled_from(USERS)),
    st.tuples(st.just("start"), st.sampled_from(USERS)),
    st.tuples(st.just("complete"), st.sampled_from((*USERS, None))),
    st.tuples(st.just("cancel"), st.none()),
)


def decide(state: domain.TaskState, name: str, user: uuid.UUID | None) -> list:
    if name == "claim":
        assert user is not None
        return domain.claim(state, user_id=user, username=str(user))
    if name == "start":
        assert user is not None
        return domain.start(state, user_id=user)
    if name == "complete":
        return domain.complete(state, user_id=user)
    return domain.cancel(state, reason="not needed")


def evolve(state: domain.TaskState, event) -> domain.TaskState:
    """What the task's snapshot projection keeps of one event."""
    assignee = getattr(event, "assignee_id", None) or state.assignee_id
    status = NEXT_STATUS[event.event_type]
    return dataclasses.replace(
        state, status=status, assignee_id=assignee, version=state.version + 1
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(command, max_size=12))
def test_random_task_commands_only_take_the_contracts_edges(commands):
    # given an open task
    state = domain.TaskState(uuid.uuid4(), None, None, status=OP, assignee_id=None, version=1)
    for name, user in commands:
        before = state
        # when any command by anyone
        try:
            events = decide(state, name, user)
        except HmError as error:
            # then a refusal is coded and nothing changes
            if error.code == "not_assignee":
                assert state.assignee_id != user and state.status in (CL, IP)
            else:
                assert error.code == "invalid_transition"
                assert error.details["from"] == state.status
            continue
        for event in events:
            state = evolve(state, event)
        # then only the contract's edges, and never out of DONE or CANCELLED
        assert (before.status, state.status) in CONTRACT_EDGES
        if name in ("start", "complete") and user is not None:
            assert user == before.assignee_id
