"""Who may do what to patients: every role against every patient endpoint (contract §2).

The table is written out rather than derived from DEFAULT_GRANTS, so that a change of the
default grants shows up here as a failing, reviewable diff.
"""

from __future__ import annotations

import pytest

from hm_core.audit.models import AuditRecord
from hm_core.events.models import Event
from hm_core.iam.models import Permission, Role, RolePermission
from hm_core.iam.permissions import ROLES
from tests.patients.factories import patient_body, register_patient

# endpoint: (method, path, body, status on success, permission, roles granted by default)
MATRIX = {
    "register": (
        "post",
        "/api/patients/",
        "new",
        201,
        "patients.register",
        {"admin", "doctor", "nurse", "receptionist"},
    ),
    "list": (
        "get",
        "/api/patients/",
        None,
        200,
        "patients.view",
        {"admin", "doctor", "nurse", "receptionist", "billing_clerk"},
    ),
    "detail": (
        "get",
        "/api/patients/{id}/",
        None,
        200,
        "patients.view",
        {"admin", "doctor", "nurse", "receptionist", "billing_clerk"},
    ),
    "update": (
        "patch",
        "/api/patients/{id}/",
        {"full_name": "Changed Name"},
        200,
        "patients.update",
        {"admin", "doctor", "receptionist"},
    ),
    "delete": ("delete", "/api/patients/{id}/", None, 204, "patients.delete", {"admin"}),
    "restore": ("post", "/api/patients/{id}/restore/", {}, 200, "patients.restore", {"admin"}),
    "timeline": (
        "get",
        "/api/patients/{id}/timeline/",
        None,
        200,
        "timelines.view",
        {"admin", "doctor", "nurse", "auditor"},
    ),
}

CASES = [
    pytest.param(endpoint, role, id=f"{endpoint}-{role}")
    for endpoint in MATRIX
    for role in [*ROLES, "lab_tech2"]
]


def _granted(endpoint: str, role: str) -> bool:
    roles = MATRIX[endpoint][5]
    return (role if role != "lab_tech2" else "lab_tech") in roles


def test_the_matrix_covers_exactly_the_contract_roles():
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


@pytest.fixture
def target(world):
    """A patient to act on; deleted beforehand when the endpoint is restore."""

    def make(endpoint: str) -> dict:
        patient = register_patient(world.api("admin"))
        if endpoint == "restore":
            assert world.api("admin").delete(f"/api/patients/{patient['id']}/").status_code == 204
        return patient

    return make


def _writes(world) -> tuple[int, int]:
    return (
        Event.objects.filter(tenant_id=world.tenant.id).count(),
        AuditRecord.all_tenants.filter(tenant_id=world.tenant.id).count(),
    )


@pytest.mark.parametrize(("endpoint", "role"), CASES)
def test_each_role_may_use_a_patient_endpoint_only_with_its_default_grant(
    world, target, endpoint, role
):
    # given
    method, path, body, success, permission, _ = MATRIX[endpoint]
    patient = target(endpoint)
    api = world.api(role)
    url = path.format(id=patient["id"])
    before = _writes(world)

    # when
    if method in ("get", "delete"):
        response = getattr(api, method)(url)
    else:
        response = getattr(api, method)(url, patient_body() if body == "new" else body)

    # then
    if _granted(endpoint, role):
        assert response.status_code == success, response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["error"] == {
            "code": "permission_denied",
            "message": "Your roles do not grant the permission this action needs.",
            "details": {"permission": permission},
        }
        assert _writes(world) == before, "a refused request wrote an event or an audit record"


def test_a_grant_removed_by_the_tenant_takes_effect_on_the_next_request(world):
    # given

    patient = register_patient(world.api())
    assert world.api("billing_clerk").get(f"/api/patients/{patient['id']}/").status_code == 200

    # when
    RolePermission.objects.filter(
        tenant=world.tenant, role__code="billing_clerk", permission__code="patients.view"
    ).delete()

    # then
    response = world.api("billing_clerk").get(f"/api/patients/{patient['id']}/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_grants_of_another_tenant_do_not_apply(world, other_world):
    # given: the rival tenant lets its lab technicians view patients

    RolePermission.objects.create(
        tenant=other_world.tenant,
        role=Role.objects.get(code="lab_tech"),
        permission=Permission.objects.get(code="patients.view"),
    )

    # when
    response = world.api("lab_tech").get("/api/patients/")

    # then
    assert response.status_code == 403
    assert other_world.api("lab_tech").get("/api/patients/").status_code == 200
