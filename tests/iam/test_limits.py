"""Contract §17: sign-in lockout, the API rate limit and TRUSTED_PROXIES, over HTTP."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from hm_core.common import throttle
from hm_core.common.client_ip import client_ip
from tests.conftest import PASSWORD
from tests.patients.factories import register_patient

TOKEN_URL = "/api/auth/token/"
ME_URL = "/api/auth/me/"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle, "now_s", fake)
    return fake


def _sign_in(username: str, password: str, ip: str = "192.0.2.10", **headers: str) -> object:
    return Client(REMOTE_ADDR=ip).post(
        TOKEN_URL,
        data={"username": username, "password": password},
        content_type="application/json",
        headers=headers,
    )


def _fail(times: int, username: str = "doctor@acme", ip: str = "192.0.2.10") -> None:
    for _ in range(times):
        assert _sign_in(username, "wrong-password", ip).status_code == 401


def _refused(response, code: str) -> int:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == code
    assert set(response.json()["error"]) == {"code", "message", "details"}
    return int(response["Retry-After"])


# --- lockout --------------------------------------------------------------------------------


def test_five_failures_lock_the_username_even_for_the_right_password(world, clock):
    # given
    _fail(5)
    clock.now += 60

    # when
    response = _sign_in("doctor@acme", PASSWORD)

    # then
    assert _refused(response, "too_many_attempts") == 900 - 60


def test_the_lock_lifts_when_the_window_has_passed(world, clock):
    _fail(5)
    clock.now += 900

    assert _sign_in("doctor@acme", PASSWORD).status_code == 200


def test_four_failures_do_not_lock_and_a_success_resets_the_count(world, clock):
    _fail(4)
    assert _sign_in("doctor@acme", PASSWORD).status_code == 200

    _fail(4)

    assert _sign_in("doctor@acme", PASSWORD).status_code == 200


def test_the_lock_is_per_username(world, clock):
    _fail(5, "doctor@acme", ip="192.0.2.10")

    assert _sign_in("nurse@acme", PASSWORD, ip="192.0.2.10").status_code == 200
    _refused(_sign_in("doctor@acme", PASSWORD, ip="198.51.100.7"), "too_many_attempts")


def test_failures_from_one_address_lock_that_address(world, clock, settings):
    # given a small per-address limit, spread over several usernames
    settings.HM_LOGIN_MAX_FAILURES_PER_IP = 3
    for username in ("a@acme", "b@acme", "c@acme"):
        _fail(1, username, ip="192.0.2.66")

    # then that address is refused for anyone; another address is not
    _refused(_sign_in("nurse@acme", PASSWORD, ip="192.0.2.66"), "too_many_attempts")
    assert _sign_in("nurse@acme", PASSWORD, ip="192.0.2.67").status_code == 200


def test_wrong_old_passwords_count_towards_the_lock(world, clock):
    access = _sign_in("doctor@acme", PASSWORD).json()["access"]
    client = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(5):
        client.post(
            "/api/auth/password/change/",
            data={"old_password": "guess-guess-guess", "new_password": "x" * 20},
            content_type="application/json",
            headers={"Authorization": f"Bearer {access}"},
        )

    _refused(_sign_in("doctor@acme", PASSWORD), "too_many_attempts")


# --- API rate limit -------------------------------------------------------------------------


def _me(world, role: str = "doctor") -> object:
    return world.api(role).get(ME_URL)


def test_the_rate_limit_refuses_a_user_past_the_setting_until_the_minute_passes(
    world, clock, settings
):
    # given
    settings.HM_RATE_LIMIT_PER_MINUTE = 3
    assert [_me(world).status_code for _ in range(3)] == [200, 200, 200]

    # when
    clock.now += 20
    refused = _me(world)

    # then
    assert _refused(refused, "rate_limited") == 40
    assert _me(world, "nurse").status_code == 200
    clock.now += 40
    assert _me(world).status_code == 200


def test_the_rate_limit_applies_to_scoped_endpoints(world, clock, settings):
    settings.HM_RATE_LIMIT_PER_MINUTE = 1
    api = world.api("nurse")
    assert api.get("/api/patients/").status_code == 200

    _refused(api.get("/api/patients/"), "rate_limited")


# --- TRUSTED_PROXIES ------------------------------------------------------------------------


def _audited_ip(world, *, remote: str, forwarded: str) -> str:
    api = world.api("nurse")
    api.client = Client(REMOTE_ADDR=remote)
    api.headers["X-Forwarded-For"] = forwarded
    patient = register_patient(api)
    items = world.api("auditor").get("/api/audit/events/", {"patient": patient["id"]}).json()
    return {item["ip"] for item in items["items"]}.pop()


def test_forwarded_for_from_an_untrusted_peer_is_ignored(world, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert _audited_ip(world, remote="192.0.2.50", forwarded="203.0.113.9") == "192.0.2.50"


def test_forwarded_for_from_a_trusted_proxy_names_the_client(world, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    ip = _audited_ip(world, remote="10.0.0.2", forwarded="198.51.100.1, 203.0.113.9, 10.0.0.3")

    assert ip == "203.0.113.9"


def test_the_lockout_counts_the_client_named_by_a_trusted_proxy(world, clock, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.HM_LOGIN_MAX_FAILURES_PER_IP = 2
    for username in ("a@acme", "b@acme"):
        _sign_in(username, "wrong", ip="10.0.0.2", **{"X-Forwarded-For": "203.0.113.9"})

    behind_proxy = _sign_in(
        "nurse@acme", PASSWORD, ip="10.0.0.2", **{"X-Forwarded-For": "203.0.113.9"}
    )
    other_client = _sign_in(
        "nurse@acme", PASSWORD, ip="10.0.0.2", **{"X-Forwarded-For": "203.0.113.10"}
    )

    _refused(behind_proxy, "too_many_attempts")
    assert other_client.status_code == 200


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.9, 10.0.0.8", "10.0.0.9"),
        ("10.0.0.2", "203.0.113.9, not-an-ip, 10.0.0.8", "10.0.0.8"),
        ("10.0.0.2", "2001:db8::1", "2001:db8::1"),
        ("192.0.2.1", "203.0.113.9", "192.0.2.1"),
    ],
)
def test_client_ip_reads_forwarded_for_from_the_right(settings, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_no_proxy_is_trusted_by_default(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert settings.TRUSTED_PROXIES == []
    assert client_ip(request) == "10.0.0.2"
