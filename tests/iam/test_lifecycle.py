"""Identity lifecycle over HTTP (contract §17): users, memberships, role grants, facilities.

Each flow runs end to end through the API: the admin's request, the `iam.*` event on the
tenant's chain and in the audit trail, and what the affected user's very next request gets.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from hm_core.events import bus
from hm_core.events.models import Event
from hm_core.events.store import load
from hm_core.iam.models import Facility, FacilityMembership, RolePermission, User
from tests.conftest import Api, World, build_world

NEW_PASSWORD = "Cardigan-Lantern-42"
USERS = "/api/iam/users/"
MEMBERSHIPS = "/api/iam/memberships/"


def _json(client_response: Any, status: int) -> Any:
    assert client_response.status_code == status, client_response.content
    return client_response.json() if client_response.content else None


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def _sign_in(world: World, username: str, facility: Facility | None = None) -> Api:
    """A client of `username` with a token from the real token endpoint."""
    response = Client().post(
        "/api/auth/token/",
        data=json.dumps({"username": username, "password": NEW_PASSWORD}),
        content_type="application/json",
    )
    access = _json(response, 200)["access"]
    api = Api(None, world.tenant.id, (facility or world.main).id)
    api.headers["Authorization"] = f"Bearer {access}"
    return api


def _iam_events(world: World) -> list[Event]:
    return list(
        Event.objects.filter(tenant_id=world.tenant.id, type__startswith="iam.").order_by(
            "position"
        )
    )


def _onboard_nurse(world: World, username: str = "nina@acme") -> tuple[dict, dict]:
    admin = world.api("admin")
    user = _json(
        admin.post(
            USERS,
            {
                "username": username,
                "full_name": "Nina Nurse",
                "email": "Nina@Example.org",
                "password": NEW_PASSWORD,
            },
        ),
        201,
    )
    membership = _json(
        admin.post(
            MEMBERSHIPS,
            {"user": user["id"], "facility_id": str(world.main.id), "roles": ["nurse"]},
        ),
        201,
    )
    return user, membership


@pytest.fixture
def other(db: Any) -> World:
    return build_world("rival")


# --- the story: onboard, work, revoke ---------------------------------------------------


def test_an_admin_onboards_a_nurse_who_works_until_the_membership_is_revoked(world):
    # given: the admin creates the account and grants a membership
    user, membership = _onboard_nurse(world)
    assert user["email"] == "nina@example.org"
    assert (user["is_active"], user["patient"], user["memberships"]) == (True, None, [])
    assert membership["roles"] == ["nurse"] and membership["user"] == user["id"]

    # when: the nurse signs in and works
    nurse = _sign_in(world, "nina@acme")
    assert nurse.get("/api/patients/").status_code == 200
    assert nurse.get("/api/patients/").status_code == 200  # served from the principal cache

    # and the admin revokes the membership
    assert world.api("admin").delete(f"{MEMBERSHIPS}{membership['id']}/").status_code == 204

    # then: the very next request with the still-valid token is refused
    _error(nurse.get("/api/patients/"), 403, "scope_forbidden")
    assert [e.type for e in _iam_events(world)] == [
        "iam.user_created",
        "iam.membership_granted",
        "iam.membership_revoked",
    ]


def test_the_events_are_on_the_chain_and_in_the_audit_trail_without_the_password(world):
    # given
    user, membership = _onboard_nurse(world)
    world.api("admin").delete(f"{MEMBERSHIPS}{membership['id']}/")

    # when
    trail = _json(world.api("auditor").get("/api/audit/events/", {"limit": 200}), 200)["items"]
    verify = _json(world.api("auditor").get("/api/audit/verify/"), 200)

    # then
    actions = [row["action"] for row in trail]
    for event_type in ("iam.user_created", "iam.membership_granted", "iam.membership_revoked"):
        assert event_type in actions
    assert verify["ok"] is True
    created = _iam_events(world)[0]
    assert created.payload["password_set"] is True
    stored = User.objects.get(id=user["id"]).password
    for event in _iam_events(world):
        text = json.dumps(event.payload)
        assert NEW_PASSWORD not in text and stored not in text
    assert created.actor_id == world.users["admin"].id


def test_granting_again_adds_roles_and_granting_what_is_held_appends_nothing(world):
    # given
    user, _ = _onboard_nurse(world)
    admin = world.api("admin")
    body = {"user": user["id"], "facility_id": str(world.main.id), "roles": ["receptionist"]}

    # when
    both = _json(admin.post(MEMBERSHIPS, body), 201)
    before = len(_iam_events(world))
    again = _json(admin.post(MEMBERSHIPS, body), 201)

    # then
    assert both["roles"] == ["nurse", "receptionist"] == again["roles"]
    assert len(_iam_events(world)) == before


def test_a_revoked_membership_granted_again_is_the_same_membership_active_again(world):
    user, membership = _onboard_nurse(world)
    admin = world.api("admin")
    nurse = _sign_in(world, "nina@acme")
    admin.delete(f"{MEMBERSHIPS}{membership['id']}/")
    _error(nurse.get("/api/patients/"), 403, "scope_forbidden")

    again = _json(
        admin.post(
            MEMBERSHIPS, {"user": user["id"], "facility_id": str(world.main.id), "roles": ["nurse"]}
        ),
        201,
    )

    assert again["id"] == membership["id"] and again["is_active"] is True
    assert nurse.get("/api/patients/").status_code == 200
    admin.delete(f"{MEMBERSHIPS}{membership['id']}/")
    _error(admin.delete(f"{MEMBERSHIPS}{membership['id']}/"), 409, "invalid_transition")


# --- deactivation -------------------------------------------------------------------------------


def test_a_deactivated_user_is_refused_at_the_next_request_and_cannot_refresh(world):
    # given: a signed-in nurse with a refresh token
    user, _ = _onboard_nurse(world)
    pair = _json(
        Client().post(
            "/api/auth/token/",
            data=json.dumps({"username": "nina@acme", "password": NEW_PASSWORD}),
            content_type="application/json",
        ),
        200,
    )
    nurse = _sign_in(world, "nina@acme")
    assert nurse.get("/api/patients/").status_code == 200
    assert nurse.get("/api/auth/me/").status_code == 200

    # when
    body = _json(world.api("admin").post(f"{USERS}{user['id']}/deactivate/"), 200)

    # then
    assert body["is_active"] is False
    _error(nurse.get("/api/patients/"), 401, "token_invalid")
    _error(nurse.get("/api/auth/me/"), 401, "token_invalid")
    refresh = Client().post(
        "/api/auth/token/refresh/",
        data=json.dumps({"refresh": pair["refresh"]}),
        content_type="application/json",
    )
    _error(refresh, 401, "token_invalid")
    assert _iam_events(world)[-1].type == "iam.user_deactivated"
    _error(world.api("admin").post(f"{USERS}{user['id']}/deactivate/"), 409, "invalid_transition")


def test_users_created_elsewhere_are_listed_with_their_memberships_here_only(world, other):
    # given
    _onboard_nurse(world)

    # when
    page = _json(world.api("admin").get(USERS, {"limit": 200}), 200)

    # then
    names = {u["username"] for u in page["items"]}
    assert "nina@acme" in names and "doctor@acme" in names
    assert not any(name.endswith("@rival") for name in names)
    assert page["count"] == len(page["items"])
    doctor = next(u for u in page["items"] if u["username"] == "doctor@acme")
    assert {m["facility_id"] for m in doctor["memberships"]} == {
        str(world.main.id),
        str(world.annex.id),
    }


def test_the_user_list_costs_the_same_queries_whatever_its_length(
    world, django_assert_max_num_queries
):
    # given: more users than the world holds
    for n in range(5):
        _onboard_nurse(world, username=f"n{n}@acme")
    admin = world.api("admin")
    admin.get(USERS)  # warms the principal cache

    # then: page, count and two prefetches (memberships, their roles)
    with django_assert_max_num_queries(4):
        assert len(_json(admin.get(USERS), 200)["items"]) >= 5


# --- role grants --------------------------------------------------------------------------------


def test_changing_a_roles_permissions_applies_to_its_holders_next_request(world):
    # given: a nurse who may read patients
    nurse = world.api("nurse")
    assert nurse.get("/api/patients/").status_code == 200
    roles = _json(world.api("admin").get("/api/iam/roles/"), 200)
    granted = next(r for r in roles["items"] if r["code"] == "nurse")["permissions"]
    assert "patients.view" in granted

    # when
    wanted = [code for code in granted if code != "patients.view"] + ["orders.view"]
    response = world.api("admin").put("/api/iam/roles/nurse/permissions/", {"permissions": wanted})

    # then
    body = _json(response, 200)
    assert body["permissions"] == sorted(wanted)
    _error(nurse.get("/api/patients/"), 403, "permission_denied")
    event = _iam_events(world)[-1]
    assert event.type == "iam.role_permissions_changed"
    assert (event.payload["added"], event.payload["removed"]) == (
        ["orders.view"],
        ["patients.view"],
    )


def test_unknown_permissions_and_roles_are_refused_and_nothing_is_written(world):
    admin = world.api("admin")
    before = Event.objects.filter(tenant_id=world.tenant.id).count()
    grants = RolePermission.objects.filter(tenant=world.tenant).count()

    _error(
        admin.put("/api/iam/roles/nurse/permissions/", {"permissions": ["x.fly"]}),
        422,
        "validation_error",
    )
    _error(admin.put("/api/iam/roles/wizard/permissions/", {"permissions": []}), 404, "not_found")

    assert Event.objects.filter(tenant_id=world.tenant.id).count() == before
    assert RolePermission.objects.filter(tenant=world.tenant).count() == grants


def test_a_tenants_grants_change_that_tenant_only(world, other):
    wanted = ["patients.view"]
    _json(world.api("admin").put("/api/iam/roles/nurse/permissions/", {"permissions": wanted}), 200)

    theirs = _json(other.api("admin").get("/api/iam/roles/"), 200)["items"]
    assert len(next(r for r in theirs if r["code"] == "nurse")["permissions"]) > 1


# --- facilities ---------------------------------------------------------------------------------


def test_a_facility_gets_a_new_name_and_iana_time_zone(world):
    admin = world.api("admin")

    body = _json(
        admin.patch(
            f"/api/iam/facilities/{world.annex.id}/",
            {"name": "Annex Clinic", "time_zone": "America/Chicago"},
        ),
        200,
    )

    assert (body["name"], body["time_zone"]) == ("Annex Clinic", "America/Chicago")
    world.annex.refresh_from_db()
    assert world.annex.time_zone == "America/Chicago"
    listed = _json(admin.get("/api/iam/facilities/"), 200)
    assert {f["code"]: f["time_zone"] for f in listed["items"]} == {
        "annex": "America/Chicago",
        "main": "UTC",
    }
    event = _iam_events(world)[-1]
    assert (event.type, event.payload["changed"]) == ("iam.facility_updated", ["name", "time_zone"])


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "America", "../etc/passwd", "", "utc+2"])
def test_a_time_zone_zoneinfo_does_not_know_is_422_and_nothing_changes(world, zone):
    before = Event.objects.filter(tenant_id=world.tenant.id).count()

    response = world.api("admin").patch(
        f"/api/iam/facilities/{world.main.id}/", {"time_zone": zone}
    )

    _error(response, 422, "validation_error")
    world.main.refresh_from_db()
    assert world.main.time_zone == "UTC"
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == before


# --- refusals -----------------------------------------------------------------------------------


def test_the_admins_of_another_tenant_get_404_for_everything_of_this_one(world, other):
    # given
    user, membership = _onboard_nurse(world)
    rival = other.api("admin")
    before = Event.objects.filter(tenant_id=world.tenant.id).count()

    # then
    _error(rival.post(f"{USERS}{user['id']}/deactivate/"), 404, "not_found")
    _error(rival.post(f"{USERS}{world.users['doctor'].id}/deactivate/"), 404, "not_found")
    _error(rival.delete(f"{MEMBERSHIPS}{membership['id']}/"), 404, "not_found")
    grant_here = {"user": user["id"], "facility_id": str(other.main.id), "roles": ["nurse"]}
    _error(rival.post(MEMBERSHIPS, grant_here), 404, "not_found")
    grant_there = {
        "user": str(other.users["nurse"].id),
        "facility_id": str(world.main.id),
        "roles": ["admin"],
    }
    _error(rival.post(MEMBERSHIPS, grant_there), 404, "not_found")
    _error(rival.patch(f"/api/iam/facilities/{world.main.id}/", {"name": "x"}), 404, "not_found")
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == before
    assert FacilityMembership.objects.get(id=membership["id"]).is_active


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", USERS, None),
        ("post", USERS, {"username": "x@acme", "full_name": "X", "email": "x@example.org"}),
        ("post", MEMBERSHIPS, "membership"),
        ("post", "{nurse}/deactivate/", None),
        ("get", "/api/iam/roles/", None),
        ("put", "/api/iam/roles/nurse/permissions/", {"permissions": []}),
        ("get", "/api/iam/facilities/", None),
        ("patch", "/api/iam/facilities/{main}/", {"name": "x"}),
    ],
)
def test_staff_without_the_permission_get_403_and_nothing_is_written(world, method, path, body):
    nurse = world.users["nurse"]
    path = path.format(nurse=nurse.id, main=world.main.id)
    path = USERS + path if path.startswith(str(nurse.id)) else path
    if body == "membership":
        body = {"user": str(nurse.id), "facility_id": str(world.annex.id), "roles": ["admin"]}
    before = Event.objects.filter(tenant_id=world.tenant.id).count()
    api = world.api("nurse")

    response = getattr(api, method)(path) if body is None else getattr(api, method)(path, body)

    _error(response, 403, "permission_denied")
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == before


def test_a_weak_password_or_a_taken_username_creates_nothing(world):
    admin = world.api("admin")
    body = {"username": "weak@acme", "full_name": "W", "email": "w@example.org"}
    before = (User.objects.count(), Event.objects.filter(tenant_id=world.tenant.id).count())

    _error(admin.post(USERS, {**body, "password": "12345678"}), 422, "weak_password")
    _error(admin.post(USERS, {**body, "username": "doctor@acme"}), 409, "username_taken")
    _error(admin.post(USERS, {**body, "email": "not-an-email"}), 422, "validation_error")
    _error(admin.post(USERS, {**body, "role": "admin"}), 422, "validation_error")

    assert (User.objects.count(), Event.objects.filter(tenant_id=world.tenant.id).count()) == before


def test_an_account_without_a_password_cannot_sign_in_until_reset(world):
    admin = world.api("admin")
    _json(
        admin.post(USERS, {"username": "np@acme", "full_name": "N", "email": "n@example.org"}), 201
    )

    response = Client().post(
        "/api/auth/token/",
        data=json.dumps({"username": "np@acme", "password": "anything-at-all"}),
        content_type="application/json",
    )

    _error(response, 401, "invalid_credentials")
    assert _iam_events(world)[-1].payload["password_set"] is False


@pytest.mark.parametrize("roles", [["wizard"], ["patient"], []])
def test_unknown_roles_or_the_patient_role_for_staff_are_422(world, roles):
    user, _ = _onboard_nurse(world)
    body = {"user": user["id"], "facility_id": str(world.main.id), "roles": roles}

    _error(world.api("admin").post(MEMBERSHIPS, body), 422, "validation_error")


# --- replay -------------------------------------------------------------------------------------


def test_replaying_the_iam_events_leaves_the_iam_tables_as_they_are(world):
    # given
    user, membership = _onboard_nurse(world)
    admin = world.api("admin")
    admin.delete(f"{MEMBERSHIPS}{membership['id']}/")
    admin.put("/api/iam/roles/auditor/permissions/", {"permissions": ["audit.view"]})
    admin.patch(f"/api/iam/facilities/{world.main.id}/", {"time_zone": "Asia/Kolkata"})
    admin.post(f"{USERS}{user['id']}/deactivate/")
    before = _iam_rows(world)

    # when
    for event in _iam_events(world):
        bus.replay(load(event, replaying=True), modules=frozenset({"iam"}))

    # then
    assert _iam_rows(world) == before


def _iam_rows(world: World) -> dict[str, Any]:
    return {
        "users": list(User.objects.order_by("id").values()),
        "memberships": list(FacilityMembership.objects.order_by("id").values()),
        "roles": sorted(
            FacilityMembership.roles.through.objects.values_list("facilitymembership_id", "role_id")
        ),
        "grants": sorted(
            RolePermission.objects.filter(tenant=world.tenant).values_list(
                "role_id", "permission_id"
            )
        ),
        "facilities": list(Facility.objects.order_by("id").values()),
    }
