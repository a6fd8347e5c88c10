"""A command's writes go out as statements compiled once per shape (`events.ops` through
`common.db`; the idle-checkpoint move of `subscriptions.advance_idle`): a repeated command
compiles no INSERT or UPDATE and sends the very statements it sent when Django compiled each."""

from __future__ import annotations

import re
import uuid
from typing import Any
from unittest.mock import patch

from django.db import connection

from hm_core.common.db import Shapes
from hm_core.events.models import SubscriptionCheckpoint
from hm_core.events.subscriptions import advance_idle, async_subscriptions
from tests.common.test_statement_shapes import no_compiling
from tests.perf.test_query_counts import _register

SCHEDULED = "2030-01-01T09:00:00Z"
SAVEPOINT = re.compile(r'"s\d+_x\d+"')


def _visit_steps(world: Any) -> list[Any]:
    """A new patient registered, an encounter scheduled and checked in, as HTTP calls (their
    writes set values, none an expression: vitals' count is a subquery Django compiles)."""
    nurse, visit = world.api("nurse"), {}

    def register() -> Any:
        response = _register(nurse, f"MRN-{uuid.uuid4().hex[:8]}")
        visit["patient"] = response.json()["id"]
        return response

    def schedule() -> Any:
        body = {"patient": visit["patient"], "reason": "Cough", "scheduled_at": SCHEDULED}
        response = nurse.post("/api/encounters/", body)
        visit["encounter"] = response.json()["id"]
        return response

    def check_in() -> Any:
        return nurse.post(f"/api/encounters/{visit['encounter']}/check-in/")

    return [register, schedule, check_in]


def _sent(steps: list[Any]) -> list[tuple[str, list[type]]]:
    """The statements the steps sent: their text and their parameters' types."""
    statements: list[tuple[str, list[type]]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        named = SAVEPOINT.sub("<savepoint>", sql)  # names count up per transaction
        statements.append((named, [type(p) for p in params or ()]))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        for step in steps:
            response = step()
            assert response.status_code in (200, 201), response.json()
    return statements


def test_a_repeated_command_compiles_nothing_and_sends_what_django_compiled(world):
    # given a warm session (principals, shapes), then the commands run with no shape kept:
    # Django compiles every statement, as before shapes were kept
    _sent(_visit_steps(world))
    with (
        patch.object(Shapes, "get", lambda self, key: None),
        patch.object(Shapes, "put", lambda self, key, value: value),
    ):
        compiled = _sent(_visit_steps(world))
    # when they run again for another patient
    with no_compiling():
        kept = _sent(_visit_steps(world))
    # then no INSERT or UPDATE was compiled, and the statements are the same, with values of
    # the same types (the values themselves are the new visit's)
    assert kept == compiled
    assert sum(sql.startswith(("INSERT", "UPDATE", "WITH")) for sql, _ in kept) >= 3


def test_the_idle_checkpoint_move_is_compiled_once_per_shape_and_moves_what_it_did(world):
    # given caught-up checkpoints of every subscription at position 5, and another tenant's
    names = [sub.name for sub in async_subscriptions()]
    other = uuid.uuid4()
    for tenant_id in (world.tenant.id, other):
        SubscriptionCheckpoint.objects.bulk_create(
            [SubscriptionCheckpoint(name=n, tenant_id=tenant_id, position=5) for n in names]
        )
    advance_idle(world.tenant.id, from_position=1, to_position=2, event_types={"x.y"})
    # when the same shape moves them (no webhook endpoint, no channel: nobody listens)
    with no_compiling():
        queued = advance_idle(world.tenant.id, from_position=5, to_position=9, event_types={"x.y"})
    assert queued is not None
    op, total = queued
    moved: list[int] = []
    op.rows = moved.append
    op.run()
    # then every checkpoint of that tenant moved, and no other tenant's
    assert (moved, total) == ([len(names)], len(names))
    positions = dict(SubscriptionCheckpoint.objects.values_list("tenant_id", "position"))
    assert positions == {world.tenant.id: 9, other: 5}
