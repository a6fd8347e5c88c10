"""Who may do what (contract §2): the 7 roles against every encounter, task and alert endpoint.

The expectation comes from DEFAULT_GRANTS; a role without the endpoint's permission gets 403
`permission_denied` and nothing is written. Each case first brings the resource to the state
the endpoint needs (through the services, as the admin), so a granted role really succeeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from hm_core.alerts.models import Alert
from hm_core.common.scope import scope_active
from hm_core.iam.permissions import DEFAULT_GRANTS, ROLES
from hm_core.tasks import services as tasks
from hm_core.tasks.models import Task
from tests.encounters.conftest import (
    CRITICAL_VITALS,
    NORMAL_VITALS,
    SCHEDULED_AT,
    enc_url,
    event_count,
    make_encounter,
    make_patient,
)


@dataclass(frozen=True)
class Endpoint:
    permission: str
    method: str
    ok: int
    prepare: Callable[[Any, str], tuple[str, Any]]  # (world, role) -> (path, body)


def _encounter(stage: str, action: str = "", body: Any = None):
    def prepare(world, role):
        return enc_url(make_encounter(world, stage), action), body

    return prepare


def _create(world, role):
    patient = make_patient(world)
    return "/api/encounters/", {
        "patient": str(patient.id),
        "reason": "Cough",
        "scheduled_at": SCHEDULED_AT,
    }


def _task_id(world, role: str, *, claim: bool = False, start: bool = False) -> uuid.UUID:
    """The open vitals task of a new visit; claimed (and started) by `role` when it may work."""
    enc = make_encounter(world, "CHECKED_IN")
    scope = world.scope("admin")
    with scope_active(scope):
        task_id = Task.objects.for_scope(scope).get(encounter_id=enc.id).id
    worker = role if "tasks.work" in DEFAULT_GRANTS[role] else "nurse"
    if claim or start:
        tasks.task_claim(scope=world.scope(worker), task_id=task_id)
    if start:
        tasks.task_start(scope=world.scope(worker), task_id=task_id)
    return task_id


def _task(action: str = "", body: Any = None, **state: bool):
    def prepare(world, role):
        task_id = _task_id(world, role, **state)
        return f"/api/tasks/{task_id}/" + (f"{action}/" if action else ""), body

    return prepare


def _acknowledge(world, role):
    enc = make_encounter(world, "VITALS", vitals=CRITICAL_VITALS)
    scope = world.scope("admin")
    with scope_active(scope):
        alert_id = Alert.objects.for_scope(scope).get(encounter_id=enc.id).id
    return f"/api/alerts/{alert_id}/acknowledge/", None


def _alerts(world, role):
    make_encounter(world, "VITALS", vitals=CRITICAL_VITALS)
    return "/api/alerts/", None


def _list(path: str, stage: str = "CHECKED_IN"):
    def prepare(world, role):
        make_encounter(world, stage)
        return path, None

    return prepare


ENDPOINTS: dict[str, Endpoint] = {
    "encounter-create": Endpoint("encounters.create", "post", 201, _create),
    "encounter-list": Endpoint("encounters.view", "get", 200, _list("/api/encounters/")),
    "encounter-detail": Endpoint("encounters.view", "get", 200, _encounter("SCHEDULED")),
    "check-in": Endpoint("encounters.check_in", "post", 200, _encounter("SCHEDULED", "check-in")),
    "vitals": Endpoint(
        "encounters.record_vitals", "post", 201, _encounter("CHECKED_IN", "vitals", NORMAL_VITALS)
    ),
    "start-consult": Endpoint(
        "encounters.start_consult", "post", 200, _encounter("VITALS", "start-consult")
    ),
    "assessment": Endpoint(
        "encounters.record_assessment",
        "post",
        200,
        _encounter("IN_CONSULT", "assessment", {"assessment": "URTI"}),
    ),
    "plan": Endpoint(
        "encounters.record_plan", "post", 200, _encounter("IN_CONSULT", "plan", {"plan": "Rest"})
    ),
    "close": Endpoint("encounters.close", "post", 200, _encounter("DOCUMENTED", "close")),
    "cancel": Endpoint(
        "encounters.cancel", "post", 200, _encounter("CHECKED_IN", "cancel", {"reason": "No show"})
    ),
    "timeline": Endpoint("timelines.view", "get", 200, _encounter("CHECKED_IN", "timeline")),
    "task-list": Endpoint("tasks.view", "get", 200, _list("/api/tasks/")),
    "task-detail": Endpoint("tasks.view", "get", 200, _task()),
    "task-claim": Endpoint("tasks.work", "post", 200, _task("claim")),
    "task-start": Endpoint("tasks.work", "post", 200, _task("start", claim=True)),
    "task-complete": Endpoint("tasks.work", "post", 200, _task("complete", start=True)),
    "task-cancel": Endpoint("tasks.work", "post", 200, _task("cancel", {"reason": "dup"})),
    "alert-list": Endpoint("alerts.view", "get", 200, _alerts),
    "alert-acknowledge": Endpoint("alerts.acknowledge", "post", 200, _acknowledge),
}

# Contract §2 in words, for the endpoints of this module: who may use each permission.
CONTRACT: dict[str, set[str]] = {
    "encounters.view": {"admin", "doctor", "nurse", "receptionist"},
    "encounters.create": {"admin", "doctor", "nurse", "receptionist"},
    "encounters.check_in": {"admin", "doctor", "nurse", "receptionist"},
    "encounters.record_vitals": {"admin", "doctor", "nurse"},
    "encounters.start_consult": {"admin", "doctor"},
    "encounters.record_assessment": {"admin", "doctor"},
    "encounters.record_plan": {"admin", "doctor"},
    "encounters.close": {"admin", "doctor"},
    "encounters.cancel": {"admin", "doctor", "nurse", "receptionist"},
    "timelines.view": {"admin", "doctor", "nurse", "auditor"},
    "tasks.view": {"admin", "doctor", "nurse", "lab_tech"},
    "tasks.work": {"admin", "doctor", "nurse", "lab_tech"},
    "alerts.view": {"admin", "doctor", "nurse"},
    "alerts.acknowledge": {"admin", "doctor", "nurse"},
}


def test_the_roles_are_the_contracts():
    assert set(ROLES) == {
        "admin",
        "doctor",
        "nurse",
        "lab_tech",
        "receptionist",
        "billing_clerk",
        "auditor",
        "integration",
    }


@pytest.mark.parametrize("permission", sorted(CONTRACT))
def test_default_grants_match_the_contract(permission):
    granted = {role for role, perms in DEFAULT_GRANTS.items() if permission in perms}
    assert granted == CONTRACT[permission]


def test_every_endpoint_permission_is_pinned_by_the_contract_table():
    assert {e.permission for e in ENDPOINTS.values()} == set(CONTRACT)


def _expected(endpoint: Endpoint, role: str) -> tuple[int, str | None]:
    if endpoint.permission in DEFAULT_GRANTS[role]:
        return endpoint.ok, None
    return 403, "permission_denied"


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_permission_matrix(world, name):
    """Every role against one endpoint; all mismatches are reported together."""
    endpoint = ENDPOINTS[name]
    shared: tuple[str, Any] | None = None
    mismatches = []
    for role in ROLES:
        # given: a granted write gets its own resource; reads and refused writes share one
        expected, code = _expected(endpoint, role)
        if code is None and endpoint.method == "post":
            path, body = endpoint.prepare(world, role)
        else:
            shared = shared or endpoint.prepare(world, role)
            path, body = shared
        api = world.api(role)
        before = event_count(world)

        # when
        r = api.get(path) if endpoint.method == "get" else api.post(path, body)

        # then
        got = r.json()["error"] if r.status_code >= 400 else None
        if r.status_code != expected or (code and got["code"] != code):
            mismatches.append((role, expected, r.status_code, r.json()))
        elif code:
            assert got["details"] == {"permission": endpoint.permission}
            assert event_count(world) == before, (role, "a refused request wrote events")
    assert mismatches == []
