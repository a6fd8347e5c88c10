"""Browser clients (contract §11a): CORS for configured origins and the refresh token as an
HttpOnly cookie on `?cookie=1`."""

from __future__ import annotations

import pytest
from django.test import Client
from ninja_jwt.tokens import RefreshToken

from tests.conftest import PASSWORD

TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"
ORIGIN = "https://app.example.org"
CREDENTIALS = {"username": "doctor@acme", "password": PASSWORD}


@pytest.fixture
def cors_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    return ORIGIN


def _preflight(client: Client, origin: str) -> object:
    return client.options(
        "/api/patients/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-tenant-id, x-facility-id",
        },
    )


# --- CORS -----------------------------------------------------------------------------------


def test_a_listed_origin_gets_a_preflight_allowing_the_scope_headers(world, cors_origin):
    response = _preflight(Client(), cors_origin)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Allow-Credentials"] == "true"
    allowed = response["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "x-tenant-id", "x-facility-id", "if-match"} <= set(
        allowed.replace(" ", "").split(",")
    )
    assert response["X-Request-ID"]


def test_a_listed_origin_sees_the_etag_and_request_id_of_an_answer(world, cors_origin):
    response = Client().post(
        TOKEN_URL, CREDENTIALS, content_type="application/json", headers={"Origin": ORIGIN}
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-request-id" in response["Access-Control-Expose-Headers"].lower()


def test_an_origin_not_listed_gets_no_cors_headers(world, cors_origin):
    response = _preflight(Client(), "https://evil.example.com")

    assert "Access-Control-Allow-Origin" not in response


def test_no_origin_is_allowed_by_default(world, settings):
    assert settings.CORS_ALLOWED_ORIGINS == []

    response = _preflight(Client(), ORIGIN)

    assert "Access-Control-Allow-Origin" not in response


# --- refresh token as a cookie --------------------------------------------------------------


def test_obtain_with_cookie_sets_the_refresh_token_as_a_strict_httponly_cookie(world):
    # when
    response = Client().post(f"{TOKEN_URL}?cookie=1", CREDENTIALS, content_type="application/json")

    # then
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access"}
    cookie = response.cookies["hm_refresh"]
    assert RefreshToken(cookie.value)["user_id"] == str(world.users["doctor"].id)
    assert (cookie["httponly"], cookie["secure"], cookie["samesite"]) == (True, True, "Strict")
    assert cookie["path"] == "/api/auth/"
    assert int(cookie["max-age"]) == 14 * 24 * 3600


def test_obtain_without_cookie_answers_both_tokens_and_sets_no_cookie(world):
    response = Client().post(TOKEN_URL, CREDENTIALS, content_type="application/json")

    assert set(response.json()) == {"access", "refresh"}
    assert "hm_refresh" not in response.cookies


def test_refresh_reads_the_cookie_rotates_it_and_the_old_one_stops_working(world):
    # given
    client = Client()
    client.post(f"{TOKEN_URL}?cookie=1", CREDENTIALS, content_type="application/json")
    first = client.cookies["hm_refresh"].value

    # when: a browser sends no refresh token in the body, only its cookie
    response = client.post(f"{REFRESH_URL}?cookie=1", {}, content_type="application/json")

    # then
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access"}
    second = response.cookies["hm_refresh"]
    assert second.value != first and second["httponly"]
    replay = Client().post(REFRESH_URL, {"refresh": first}, content_type="application/json")
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_invalid"


def test_refresh_from_the_cookie_never_puts_the_new_token_in_the_body(world):
    client = Client()
    client.post(f"{TOKEN_URL}?cookie=1", CREDENTIALS, content_type="application/json")

    response = client.post(REFRESH_URL, {}, content_type="application/json")

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access"}
    assert response.cookies["hm_refresh"]["httponly"]


def test_refresh_with_a_body_token_and_cookie_flag_moves_it_into_the_cookie(world):
    pair = Client().post(TOKEN_URL, CREDENTIALS, content_type="application/json").json()

    response = Client().post(
        f"{REFRESH_URL}?cookie=1", {"refresh": pair["refresh"]}, content_type="application/json"
    )

    assert set(response.json()) == {"access"}
    assert response.cookies["hm_refresh"].value


def test_refresh_without_body_token_or_cookie_is_401(world):
    response = Client().post(REFRESH_URL, {}, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
