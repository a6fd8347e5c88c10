"""Settings read from the environment (django-environ): the names, defaults and parsing the
README's configuration table documents, each checked in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

_NAMES = (
    "DEBUG",
    "SECRET_KEY",
    "CORS_ALLOWED_ORIGINS",
    "HM_WEBHOOK_ALLOW_HTTP",
    "HM_EMBEDDED_RECONCILER",
    "HL7_MLLP_WORKERS",
)


def _settings(module: str, **env: str) -> dict:
    """Some values of a settings module loaded with exactly this configuration."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DATABASE_URL")}
    code = f"import json, {module} as s; print(json.dumps({{n: getattr(s, n) for n in {_NAMES}}}))"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**keep, **env},
        cwd=settings.BASE_DIR,
        check=True,
    )
    return json.loads(result.stdout)


def test_unset_and_empty_variables_take_the_documented_defaults():
    for env in ({}, {"DEBUG": "", "WEBHOOK_ALLOW_HTTP": "", "HL7_MLLP_WORKERS": ""}):
        values = _settings("config.settings.base", **env)
        assert values["DEBUG"] is False
        assert values["SECRET_KEY"] == ""
        assert values["CORS_ALLOWED_ORIGINS"] == []
        assert values["HM_WEBHOOK_ALLOW_HTTP"] is False
        assert values["HM_EMBEDDED_RECONCILER"] is True
        assert values["HL7_MLLP_WORKERS"] == 8
    assert _settings("config.settings.dev")["DEBUG"] is True


def test_values_are_parsed_as_before():
    values = _settings(
        "config.settings.base",
        DEBUG="On",
        CORS_ALLOWED_ORIGINS="https://a.example, https://b.example,",
        WEBHOOK_ALLOW_HTTP="maybe",  # only 1/true/yes/on are true
        EMBEDDED_RECONCILER="0",
        HL7_MLLP_WORKERS="3",
        SECRET_KEY="$starts-with-a-dollar\\$",  # never read as the name of another variable
    )
    assert values["DEBUG"] is True
    assert values["CORS_ALLOWED_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert values["HM_WEBHOOK_ALLOW_HTTP"] is False
    assert values["HM_EMBEDDED_RECONCILER"] is False
    assert values["HL7_MLLP_WORKERS"] == 3
    assert values["SECRET_KEY"] == "$starts-with-a-dollar\\$"
