"""PHI answers are never cached, the docs page has a CSP, production sends HSTS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.patients.factories import register_patient


def test_scoped_answers_are_never_stored_by_browsers_or_proxies(world):
    # given
    api = world.api()
    patient = register_patient(api)

    # when
    responses = [
        api.get("/api/patients/", {"search": patient["full_name"]}),
        api.get(f"/api/patients/{patient['id']}/"),
        api.get("/api/patients/00000000-0000-0000-0000-000000000000/"),
        api.post("/api/patients/", {"full_name": ""}),
    ]

    # then
    for response in responses:
        assert "no-store" in response["Cache-Control"], response.status_code
        assert "private" in response["Cache-Control"]


def test_unauthenticated_api_errors_are_not_stored_either(anonymous):
    response = anonymous.get("/api/patients/")

    assert response.status_code == 401 and "no-store" in response["Cache-Control"]


def test_the_docs_page_has_a_content_security_policy_that_admits_its_own_assets(client):
    # when
    response = client.get("/api/docs/")

    # then
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no inline or foreign scripts
    assert directives["frame-ancestors"] == "'none'"
    assert "static/ninja/swagger-ui-bundle.js" in response.content.decode()  # same origin


# Production refuses to start without field keys (contract §18).
FIELD_KEYS = {
    "FIELD_ENCRYPTION_KEYS": "_ScKXoJL70ndhlkxYoLSZOKj2tG_T3_qfH-nb9CeySU=",
    "FIELD_BLIND_INDEX_KEY": "2U8sPe_ab47TeiccRlb_lQvWnYGUjoT5CgoJ_DLwEbQ=",
}


def _prod_setting(name: str, **env: str) -> str:
    """A value of `config.settings.prod`, loaded in a fresh interpreter (it reads the
    environment at import and shares dicts with the settings this suite runs on)."""
    environ = {k: v for k, v in os.environ.items() if k != "SECURE_HSTS_SECONDS"}
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", f"import config.settings.prod as s; print(s.{name})"],
        capture_output=True,
        text=True,
        env={
            **environ,
            "SECRET_KEY": "x" * 50,
            **FIELD_KEYS,
            "CHAIN_SIGNING_KEY": "A" * 43 + "=",
            **env,
        },
        cwd=settings.BASE_DIR,
        check=True,
    )
    return result.stdout.strip()


def test_production_settings_send_hsts_for_a_year_by_default():
    assert _prod_setting("SECURE_HSTS_SECONDS") == str(365 * 24 * 3600)


def test_hsts_can_be_changed_from_the_environment():
    assert _prod_setting("SECURE_HSTS_SECONDS", SECURE_HSTS_SECONDS="0") == "0"


@pytest.mark.parametrize("missing", ["FIELD_ENCRYPTION_KEYS", "FIELD_BLIND_INDEX_KEY"])
def test_production_refuses_to_start_without_field_keys(missing):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FIELD_")}
    keys = {k: v for k, v in FIELD_KEYS.items() if k != missing}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings.prod"],
        capture_output=True,
        text=True,
        env={**environ, "SECRET_KEY": "x" * 50, **keys},
        cwd=settings.BASE_DIR,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr
