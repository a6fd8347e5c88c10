"""Who may do what in the laboratory (contract §2): every role against every lab endpoint.

The permission is checked before anything is looked up, so an allowed role probing an unknown
id gets 404 (lists 200) and a refused role 403 `permission_denied` naming the permission.
"""

from __future__ import annotations

import uuid

import pytest

from tests.lab.conftest import K_NORMAL, error_of

ROLES = ("admin", "doctor", "nurse", "lab_tech", "receptionist", "billing_clerk", "auditor")
VIEW_SAMPLES = {"admin", "doctor", "lab_tech"}
WORK_SAMPLES = {"admin", "lab_tech"}
VIEW_RESULTS = {"admin", "doctor", "nurse", "lab_tech"}
WORK_RESULTS = {"admin", "lab_tech"}

S, R = "/api/lab/samples/{id}/", "/api/lab/results/{id}/"
ENDPOINTS = [
    ("get", "/api/lab/samples/", None, "samples.view", VIEW_SAMPLES),
    ("get", S, None, "samples.view", VIEW_SAMPLES),
    (
        "post",
        S + "receive/",
        {"barcode": "BC-1", "received_at": "2020-01-01T00:00:00Z"},
        "samples.receive",
        WORK_SAMPLES,
    ),
    ("post", S + "reject/", {"reason": "clotted"}, "samples.reject", WORK_SAMPLES),
    (
        "post",
        "/api/lab/results/",
        {"order_item_id": "{id}", "result_payload": K_NORMAL, "is_critical": False},
        "results.enter",
        WORK_RESULTS,
    ),
    ("get", "/api/lab/results/", None, "results.view", VIEW_RESULTS),
    ("get", R, None, "results.view", VIEW_RESULTS),
    ("get", R + "versions/", None, "results.view", VIEW_RESULTS),
    ("post", R + "verify/", None, "results.verify", WORK_RESULTS),
    ("post", R + "release/", None, "results.release", WORK_RESULTS),
    (
        "post",
        R + "correct/",
        {"result_payload": K_NORMAL, "reason": "recheck"},
        "results.correct",
        WORK_RESULTS,
    ),
]


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix_of_the_lab(world, role):
    api = world.api(role)
    unknown = str(uuid.uuid4())
    for method, path, body, permission, allowed in ENDPOINTS:
        url = path.replace("{id}", unknown)
        if body is not None and body.get("order_item_id") == "{id}":
            body = {**body, "order_item_id": unknown}
        r = api.get(url) if method == "get" else api.post(url, body)
        if role in allowed:
            expected = 200 if url.endswith(("/samples/", "/results/")) and method == "get" else 404
            assert r.status_code == expected, (role, method, url, r.json())
        else:
            assert r.status_code == 403, (role, method, url, r.json())
            assert error_of(r)["code"] == "permission_denied"
            assert error_of(r)["details"] == {"permission": permission}
