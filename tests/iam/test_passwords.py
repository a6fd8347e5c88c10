"""Contract §17: logout, password change and password reset over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.test import Client

from tests.conftest import PASSWORD

TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"
LOGOUT_URL = "/api/auth/logout/"
CHANGE_URL = "/api/auth/password/change/"
RESET_URL = "/api/auth/password-reset/"
CONFIRM_URL = "/api/auth/password-reset/confirm/"
NEW_PASSWORD = "a-much-better-passphrase-42"


def _post(path: str, body: dict, access: str | None = None) -> object:
    headers = {"Authorization": f"Bearer {access}"} if access else {}
    return Client().post(path, data=body, content_type="application/json", headers=headers)


def _sign_in(username: str = "doctor@acme", password: str = PASSWORD) -> dict[str, str]:
    response = _post(TOKEN_URL, {"username": username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def _refresh_works(refresh: str) -> bool:
    return _post(REFRESH_URL, {"refresh": refresh}).status_code == 200


# --- logout ---------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token(world):
    # given
    pair = _sign_in()

    # when
    response = _post(LOGOUT_URL, {"refresh": pair["refresh"]}, access=pair["access"])

    # then
    assert response.status_code == 204, response.content
    _error(_post(REFRESH_URL, {"refresh": pair["refresh"]}), 401, "token_invalid")


def test_logout_leaves_the_users_other_sessions_alone(world):
    first, second = _sign_in(), _sign_in()

    _post(LOGOUT_URL, {"refresh": first["refresh"]}, access=first["access"])

    assert _refresh_works(second["refresh"])


def test_logout_needs_a_bearer_token(world):
    pair = _sign_in()

    _error(_post(LOGOUT_URL, {"refresh": pair["refresh"]}), 401, "not_authenticated")
    assert _refresh_works(pair["refresh"])


def test_logout_refuses_another_users_refresh_token(world):
    mine, theirs = _sign_in(), _sign_in("nurse@acme")

    response = _post(LOGOUT_URL, {"refresh": theirs["refresh"]}, access=mine["access"])

    _error(response, 401, "token_invalid")
    assert _refresh_works(theirs["refresh"])


# --- password change ------------------------------------------------------------------------


def test_password_change_sets_the_new_password_and_revokes_every_refresh_token(world):
    # given two sessions
    first, second = _sign_in(), _sign_in()

    # when
    response = _post(
        CHANGE_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, first["access"]
    )

    # then
    assert response.status_code == 204, response.content
    assert not _refresh_works(first["refresh"])
    assert not _refresh_works(second["refresh"])
    _error(
        _post(TOKEN_URL, {"username": "doctor@acme", "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    assert _sign_in(password=NEW_PASSWORD)["access"]


def test_password_change_with_a_wrong_old_password_is_400_wrong_password(world):
    pair = _sign_in()

    response = _post(
        CHANGE_URL,
        {"old_password": "not-the-password", "new_password": NEW_PASSWORD},
        pair["access"],
    )

    _error(response, 400, "wrong_password")
    assert _refresh_works(pair["refresh"])


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("Short-pw-1", "too short"),
        ("password1234", "too common"),
        ("839201748362", "entirely numeric"),
        ("doctor@acme-x", "too similar"),
    ],
)
def test_password_change_refuses_a_weak_password_with_the_validators_messages(
    world, new_password, message
):
    pair = _sign_in()

    response = _post(
        CHANGE_URL, {"old_password": PASSWORD, "new_password": new_password}, pair["access"]
    )

    error = _error(response, 422, "weak_password")
    assert any(message in item["message"] for item in error["details"]), error
    assert {item["field"] for item in error["details"]} == {"new_password"}
    assert _refresh_works(pair["refresh"])


def test_password_change_needs_a_bearer_token_but_no_scope_headers(world):
    _error(
        _post(CHANGE_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD}),
        401,
        "not_authenticated",
    )


# --- password reset -------------------------------------------------------------------------


def _ask_reset(world, username: str = "doctor@acme") -> object:
    user = world.users["doctor"]
    user.email = "doctor@acme.example"
    user.save(update_fields=["email"])
    return _post(RESET_URL, {"username": username})


def _emailed_token() -> str:
    assert len(mail.outbox) == 1
    match = re.search(r"^([A-Za-z0-9_-]+\.[0-9a-z]+-[0-9a-f]+)$", mail.outbox[0].body, re.M)
    assert match, mail.outbox[0].body
    return match.group(1)


def test_password_reset_emails_a_token_that_sets_a_new_password_once(world):
    # given
    pair = _sign_in()
    response = _ask_reset(world)
    assert response.status_code == 202, response.content
    assert mail.outbox[0].to == ["doctor@acme.example"]
    token = _emailed_token()

    # when
    confirmed = _post(CONFIRM_URL, {"token": token, "new_password": NEW_PASSWORD})

    # then
    assert confirmed.status_code == 204, confirmed.content
    assert _sign_in(password=NEW_PASSWORD)["access"]
    assert not _refresh_works(pair["refresh"])
    again = _post(CONFIRM_URL, {"token": token, "new_password": "yet-another-passphrase-7"})
    _error(again, 400, "invalid_token")


def test_password_reset_answers_the_same_for_an_unknown_user_and_sends_nothing(world):
    known = _ask_reset(world)
    mail.outbox.clear()

    unknown = _post(RESET_URL, {"username": "nobody@acme"})

    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)
    assert mail.outbox == []


def test_password_reset_token_expires_after_an_hour(world, monkeypatch):
    _ask_reset(world)
    token = _emailed_token()
    issued = PasswordResetTokenGenerator()._now()
    monkeypatch.setattr(
        PasswordResetTokenGenerator, "_now", lambda self: issued + timedelta(seconds=3601)
    )

    response = _post(CONFIRM_URL, {"token": token, "new_password": NEW_PASSWORD})

    _error(response, 400, "invalid_token")


@pytest.mark.parametrize("token", ["nonsense", "bm9uc2Vuc2U.abc-def", "x" * 100 + ".1-2"])
def test_password_reset_confirm_refuses_an_unknown_token(world, token):
    response = _post(CONFIRM_URL, {"token": token, "new_password": NEW_PASSWORD})

    _error(response, 400, "invalid_token")


def test_password_reset_confirm_refuses_a_weak_password_and_keeps_the_token(world):
    _ask_reset(world)
    token = _emailed_token()

    weak = _post(CONFIRM_URL, {"token": token, "new_password": "short"})

    _error(weak, 422, "weak_password")
    assert _post(CONFIRM_URL, {"token": token, "new_password": NEW_PASSWORD}).status_code == 204


def test_password_reset_emails_are_capped_per_username_but_the_answer_stays_202(world, settings):
    settings.HM_PASSWORD_RESET_EMAILS_PER_HOUR = 2

    answers = [_ask_reset(world).status_code for _ in range(3)]

    assert answers == [202, 202, 202]
    assert len(mail.outbox) == 2
