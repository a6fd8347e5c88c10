"""Tenant and facility isolation of every encounter, task and alert endpoint (contract §1).

Another tenant's or another facility's encounter, task or alert answers exactly like a random
UUID: 404 `not_found`, same body; lists never include or count it; nothing is written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from hm_core.alerts.models import Alert
from hm_core.alerts.selectors import alert_get, alert_list
from hm_core.common.scope import ScopeNotActive, scope_active
from hm_core.encounters.selectors import encounter_get, encounter_list
from hm_core.tasks.models import Task
from hm_core.tasks.selectors import task_get
from tests.encounters.conftest import (
    CRITICAL_VITALS,
    NORMAL_VITALS,
    enc_url,
    event_count,
    make_encounter,
)


@dataclass
class Target:
    """One facility's encounter with its vitals task and its open critical alert."""

    encounter: Any
    task_id: uuid.UUID
    alert_id: uuid.UUID


@pytest.fixture
def target(world) -> Target:
    enc = make_encounter(world, "VITALS", vitals=CRITICAL_VITALS)
    scope = world.scope("admin")
    with scope_active(scope):
        consult = Task.objects.for_scope(scope).get(encounter_id=enc.id, kind="consult")
        alert = Alert.objects.for_scope(scope).get(encounter_id=enc.id)
    return Target(encounter=enc, task_id=consult.id, alert_id=alert.id)


def _probes(encounter_id, task_id, alert_id) -> list[tuple[str, str, Any]]:
    """(method, path, body) of every encounter, task and alert endpoint that takes an id."""
    return [
        ("get", enc_url(encounter_id), None),
        ("post", enc_url(encounter_id, "check-in"), None),
        ("post", enc_url(encounter_id, "vitals"), NORMAL_VITALS),
        ("post", enc_url(encounter_id, "start-consult"), None),
        ("post", enc_url(encounter_id, "assessment"), {"assessment": "URTI"}),
        ("post", enc_url(encounter_id, "plan"), {"plan": "Rest"}),
        ("post", enc_url(encounter_id, "close"), None),
        ("post", enc_url(encounter_id, "cancel"), {"reason": "probe"}),
        ("get", enc_url(encounter_id, "timeline"), None),
        ("get", f"/api/tasks/{task_id}/", None),
        ("post", f"/api/tasks/{task_id}/claim/", None),
        ("post", f"/api/tasks/{task_id}/start/", None),
        ("post", f"/api/tasks/{task_id}/complete/", None),
        ("post", f"/api/tasks/{task_id}/cancel/", {"reason": "probe"}),
        ("post", f"/api/alerts/{alert_id}/acknowledge/", None),
    ]


PROBE_IDS = [
    "encounter-detail",
    "check-in",
    "vitals",
    "start-consult",
    "assessment",
    "plan",
    "close",
    "cancel",
    "timeline",
    "task-detail",
    "task-claim",
    "task-start",
    "task-complete",
    "task-cancel",
    "alert-acknowledge",
]


def _call(api, method: str, path: str, body: Any):
    return api.get(path) if method == "get" else api.post(path, body)


def _outsider(world, other_world, who: str):
    """other tenant's admin; this tenant's admin or doctor at the annex (members of both)."""
    if who == "other_tenant":
        return other_world.api("admin")
    role = who.removeprefix("annex_")
    return world.api(role, facility=world.annex)


OUTSIDERS = ["other_tenant", "annex_admin", "annex_doctor"]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_another_scopes_resource_is_404_exactly_like_a_random_id(world, other_world, target, who):
    """Every id-taking endpoint in turn; all mismatches are reported together."""
    # given
    api = _outsider(world, other_world, who)
    probes = _probes(target.encounter.id, target.task_id, target.alert_id)
    randoms = _probes(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    before = event_count(world)
    mismatches = []

    for name, (method, path, body), (_, random_path, _) in zip(
        PROBE_IDS, probes, randoms, strict=True
    ):
        # when
        r = _call(api, method, path, body)
        missing = _call(api, method, random_path, body)

        # then
        if (r.status_code, r.json()) != (404, missing.json()) or missing.status_code != 404:
            mismatches.append((name, r.status_code, r.json(), missing.json()))
        elif r.json()["error"]["code"] != "not_found":
            mismatches.append((name, r.json()))
    assert mismatches == []
    assert event_count(world) == before

    # and the owner sees its encounter, task and alert as they were
    owner = world.api("admin")
    enc = owner.get(enc_url(target.encounter)).json()
    assert (enc["status"], enc["version"]) == ("CHECKED_IN", target.encounter.version)
    task = owner.get(f"/api/tasks/{target.task_id}/").json()
    assert (task["status"], task["version"]) == ("OPEN", 1)
    alerts = owner.get("/api/alerts/", {"status": "OPEN"}).json()
    assert [a["id"] for a in alerts["items"]] == [str(target.alert_id)]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_lists_never_include_or_count_another_scopes_rows(world, other_world, target, who):
    # given the outsider has rows of its own
    api = _outsider(world, other_world, who)
    if who == "other_tenant":
        own = make_encounter(other_world, "VITALS", vitals=CRITICAL_VITALS)
    else:
        own = make_encounter(world, "VITALS", vitals=CRITICAL_VITALS, facility=world.annex)
    enc = target.encounter
    lists = {
        "/api/encounters/": [{}, {"patient": str(enc.patient_id)}, {"status": "CHECKED_IN"}],
        "/api/tasks/": [{}, {"encounter": str(enc.id)}, {"queue": "doctor"}, {"status": "DONE"}],
        "/api/alerts/": [
            {},
            {"encounter": str(enc.id)},
            {"patient": str(enc.patient_id)},
            {"status": "OPEN"},
        ],
    }

    for path, filters in lists.items():
        for params in filters:
            # when
            r = api.get(path, params)

            # then
            assert r.status_code == 200, r.json()
            body = r.json()
            assert body["count"] == len(body["items"]), (path, params, body)
            leaked = [i for i in body["items"] if str(enc.id) in (i["id"], i.get("encounter_id"))]
            assert leaked == [], (path, params)
            facility_ids = {i["facility_id"] for i in body["items"]}
            assert facility_ids <= {str(own.facility_id)}, (path, params)
            if params and "status" not in params and "queue" not in params:
                assert body == {"items": [], "count": 0}, (path, params)


def test_lists_at_the_owners_facility_count_only_its_rows(world, target):
    # given an annex visit of the same tenant
    make_encounter(world, "VITALS", vitals=CRITICAL_VITALS, facility=world.annex)
    owner = world.api("doctor")

    # then main counts only main's rows
    assert owner.get("/api/encounters/").json()["count"] == 1
    tasks = owner.get("/api/tasks/").json()
    assert tasks["count"] == 2 and {t["encounter_id"] for t in tasks["items"]} == {
        str(target.encounter.id)
    }
    assert owner.get("/api/alerts/").json()["count"] == 1


def test_the_patient_of_another_tenant_does_not_filter_into_lists(world, other_world, target):
    # given a probe filtering this tenant's lists by the other tenant's patient
    stranger = make_encounter(other_world, "VITALS", vitals=CRITICAL_VITALS)
    api = world.api("admin")

    assert api.get("/api/encounters/", {"patient": str(stranger.patient_id)}).json()["count"] == 0
    assert api.get("/api/tasks/", {"encounter": str(stranger.id)}).json()["count"] == 0
    assert api.get("/api/alerts/", {"patient": str(stranger.patient_id)}).json()["count"] == 0


@pytest.mark.parametrize(
    "read",
    [
        lambda scope, t: encounter_get(scope=scope, encounter_id=t.encounter.id),
        lambda scope, t: encounter_list(scope=scope, patient=None, status=None).count(),
        lambda scope, t: task_get(scope=scope, task_id=t.task_id),
        lambda scope, t: alert_get(scope=scope, alert_id=t.alert_id),
        lambda scope, t: alert_list(scope=scope, status=None, encounter=None, patient=None).count(),
    ],
    ids=["encounter_get", "encounter_list", "task_get", "alert_get", "alert_list"],
)
def test_selectors_refuse_to_run_outside_an_active_scope(world, target, read):
    with pytest.raises(ScopeNotActive):
        read(world.scope("admin"), target)
