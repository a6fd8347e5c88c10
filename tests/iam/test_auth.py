"""Contract §2: token obtain and refresh with rotation, who am I, and 401 on bad tokens."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from ninja_jwt.tokens import AccessToken, RefreshToken

from hm_core.iam.models import FacilityMembership
from tests.conftest import PASSWORD, Api

TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"
ME_URL = "/api/auth/me/"


def _post(path: str, body: dict) -> object:
    return Client().post(path, data=body, content_type="application/json")


def _me(access: str) -> object:
    return Client().get(ME_URL, headers={"Authorization": f"Bearer {access}"})


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


# --- obtain ---------------------------------------------------------------------------------


def test_obtain_answers_an_access_and_a_refresh_token(world):
    # when
    response = _post(TOKEN_URL, {"username": "doctor@acme", "password": PASSWORD})

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh"}
    access, refresh = AccessToken(body["access"]), RefreshToken(body["refresh"])
    assert access["user_id"] == str(world.users["doctor"].id)
    assert refresh["user_id"] == str(world.users["doctor"].id)
    assert _me(body["access"]).status_code == 200


def test_token_lifetimes_come_from_settings(world):
    body = _post(TOKEN_URL, {"username": "doctor@acme", "password": PASSWORD}).json()

    access, refresh = AccessToken(body["access"]), RefreshToken(body["refresh"])

    assert (
        access["exp"] - access["iat"]
        == settings.NINJA_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
        == 600
    )
    assert (
        refresh["exp"] - refresh["iat"]
        == settings.NINJA_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()
        == 14 * 24 * 3600
    )


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("doctor@acme", "wrong-password"),
        ("nobody@acme", PASSWORD),
        ("DOCTOR@ACME", PASSWORD),
    ],
    ids=["wrong-password", "unknown-user", "username-is-case-sensitive"],
)
def test_obtain_with_bad_credentials_is_401_invalid_credentials(world, username, password):
    response = _post(TOKEN_URL, {"username": username, "password": password})
    _error(response, 401, "invalid_credentials")


def test_obtain_for_an_inactive_user_is_401_invalid_credentials(world):
    user = world.users["nurse"]
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = _post(TOKEN_URL, {"username": "nurse@acme", "password": PASSWORD})

    _error(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "body",
    [{"username": "doctor@acme"}, {"password": PASSWORD}, {"username": "", "password": ""}],
    ids=["no-password", "no-username", "empty"],
)
def test_obtain_with_an_incomplete_body_is_422(world, body):
    _error(_post(TOKEN_URL, body), 422, "validation_error")


# --- refresh --------------------------------------------------------------------------------


def _pair(username: str = "doctor@acme") -> dict:
    return _post(TOKEN_URL, {"username": username, "password": PASSWORD}).json()


def test_refresh_rotates_a_new_pair_and_the_old_refresh_token_stops_working(world):
    # given
    old = _pair()

    # when
    response = _post(REFRESH_URL, {"refresh": old["refresh"]})
    again = _post(REFRESH_URL, {"refresh": old["refresh"]})

    # then
    assert response.status_code == 200, response.content
    new = response.json()
    assert set(new) == {"access", "refresh"}
    assert new["refresh"] != old["refresh"] and new["access"] != old["access"]
    assert _me(new["access"]).json()["username"] == "doctor@acme"
    _error(again, 401, "token_invalid")
    assert _post(REFRESH_URL, {"refresh": new["refresh"]}).status_code == 200


@pytest.mark.parametrize(
    "refresh",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param(lambda pair: pair["access"], id="an-access-token"),
    ],
)
def test_refresh_with_a_token_that_is_no_refresh_token_is_401(world, refresh):
    pair = _pair()
    value = refresh(pair) if callable(refresh) else refresh

    _error(_post(REFRESH_URL, {"refresh": value}), 401, "token_invalid")


def test_refresh_for_a_user_deactivated_since_is_401(world):
    pair = _pair("nurse@acme")
    user = world.users["nurse"]
    user.is_active = False
    user.save(update_fields=["is_active"])

    _error(_post(REFRESH_URL, {"refresh": pair["refresh"]}), 401, "token_invalid")


def test_an_expired_refresh_token_is_401(world):
    token = RefreshToken.for_user(world.users["doctor"])
    token.set_exp(lifetime=-timedelta(seconds=1))

    _error(_post(REFRESH_URL, {"refresh": str(token)}), 401, "token_invalid")


# --- me -------------------------------------------------------------------------------------


def test_me_shows_the_user_with_memberships_and_roles(world):
    # when
    response = world.api("admin").get(ME_URL)

    # then
    assert response.status_code == 200, response.content
    me = response.json()
    admin = world.users["admin"]
    assert set(me) == {"id", "username", "full_name", "memberships"}
    assert (me["id"], me["username"], me["full_name"]) == (
        str(admin.id),
        "admin@acme",
        admin.full_name,
    )
    assert sorted(me["memberships"], key=lambda m: m["facility_id"]) == sorted(
        [
            {"tenant_id": str(world.tenant.id), "facility_id": str(f.id), "roles": ["admin"]}
            for f in (world.main, world.annex)
        ],
        key=lambda m: m["facility_id"],
    )


def test_me_lists_only_active_memberships(world):
    FacilityMembership.objects.filter(user=world.users["doctor"], facility=world.annex).update(
        is_active=False
    )

    memberships = world.api("doctor").get(ME_URL).json()["memberships"]

    assert memberships == [
        {"tenant_id": str(world.tenant.id), "facility_id": str(world.main.id), "roles": ["doctor"]}
    ]


def test_me_needs_no_scope_headers(world):
    response = Api(world.users["nurse"], None, None).get(ME_URL)

    assert response.status_code == 200
    assert [m["roles"] for m in response.json()["memberships"]] == [["nurse"]]


# --- 401 ------------------------------------------------------------------------------------


def _expired_access(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


@pytest.mark.parametrize("path", [ME_URL, "/api/patients/", "/api/audit/events/"])
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        pytest.param(lambda world: None, "not_authenticated", id="no-token"),
        pytest.param(lambda world: "Bearer", "token_invalid", id="empty-bearer"),
        pytest.param(lambda world: "Basic YWRtaW46cHc=", "not_authenticated", id="basic-scheme"),
        pytest.param(lambda world: "Bearer garbage", "token_invalid", id="garbage-token"),
        pytest.param(
            lambda world: f"Bearer {_expired_access(world.users['admin'])}",
            "token_invalid",
            id="expired-token",
        ),
        pytest.param(
            lambda world: f"Bearer {RefreshToken.for_user(world.users['admin'])}",
            "token_invalid",
            id="refresh-token-as-access",
        ),
    ],
)
def test_a_missing_or_invalid_token_is_401_with_the_error_body(world, path, authorization, code):
    # given
    headers = {"X-Tenant-ID": str(world.tenant.id), "X-Facility-ID": str(world.main.id)}
    value = authorization(world)
    if value is not None:
        headers["Authorization"] = value

    # when
    response = Client().get(path, headers=headers)

    # then
    _error(response, 401, code)


def test_the_token_of_a_deactivated_user_is_401(world):
    api = world.api("doctor")
    user = world.users["doctor"]
    user.is_active = False
    user.save(update_fields=["is_active"])

    _error(api.get(ME_URL), 401, "token_invalid")
    _error(api.get("/api/patients/"), 401, "token_invalid")


def test_token_endpoints_and_health_need_no_token(db):
    assert Client().get("/api/health/").status_code == 200
    _error(_post(TOKEN_URL, {"username": "x", "password": "y"}), 401, "invalid_credentials")
    _error(_post(REFRESH_URL, {"refresh": "y"}), 401, "token_invalid")


def test_obtain_with_a_nul_character_is_422_not_a_server_error(world):
    response = _post(TOKEN_URL, {"username": "doctor@acme\x00", "password": PASSWORD})

    _error(response, 422, "validation_error")
    assert response.json()["error"]["details"][0]["field"] == "username"


def test_me_leaves_out_memberships_of_an_inactive_facility(world):
    # given: the annex closed; its memberships no longer give a scope
    world.annex.is_active = False
    world.annex.save(update_fields=["is_active"])
    api = world.api("admin", facility=world.annex)
    assert api.get("/api/patients/").json()["error"]["code"] == "scope_forbidden"

    # when
    memberships = api.get(ME_URL).json()["memberships"]

    # then
    assert [m["facility_id"] for m in memberships] == [str(world.main.id)]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_of_one_token_give_one_new_pair(world):
    # given
    refresh = _pair()["refresh"]
    barrier = threading.Barrier(2)
    results: list = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait(timeout=30)
            outcome: object = _post(REFRESH_URL, {"refresh": refresh})
        except Exception as exc:  # collected and asserted on by the test
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    # when
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then
    assert sorted(r.status_code for r in results) == [200, 401], results
    loser = next(r for r in results if r.status_code == 401)
    assert loser.json()["error"]["code"] == "token_invalid"
