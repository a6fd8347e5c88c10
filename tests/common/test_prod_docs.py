"""`/api/docs/` renders under the production settings, with or without `collectstatic` (issue 9).

The production settings are loaded in a child process: importing them here would change the
suite's own settings (connection reuse, middleware).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, re, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings

with override_settings(STATIC_ROOT=sys.argv[1]):
    if sys.argv[2] == "collected":
        call_command("collectstatic", "--noinput", "-v0")
    client = Client(raise_request_exception=False)
    docs = client.get("/api/docs/")
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', docs.content.decode())
    print(json.dumps({
        "docs": docs.status_code,
        "assets": {url: client.get(url).status_code for url in assets},
    }))
"""


@pytest.mark.parametrize("static", ["not-collected", "collected"])
def test_api_docs_render_under_production_settings(tmp_path: Path, static: str) -> None:
    # given the production settings and a STATIC_ROOT that collectstatic has or has not filled
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "SECRET_KEY": "prod-docs-test-key-0123456789abcdef0123456789abcdef",
        "FIELD_ENCRYPTION_KEYS": "_ScKXoJL70ndhlkxYoLSZOKj2tG_T3_qfH-nb9CeySU=",
        "FIELD_BLIND_INDEX_KEY": "2U8sPe_ab47TeiccRlb_lQvWnYGUjoT5CgoJ_DLwEbQ=",
        "CHAIN_SIGNING_KEY": "cHJvZC10ZXN0LWNoYWluLXNpZ25pbmcta2V5LTAwMDA=",
        "PYTHONPATH": str(ROOT),
    }
    # when the docs and every asset they link are fetched
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SCRIPT, str(tmp_path / "static"), static],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then the page and its assets are served
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["docs"] == 200
    assert result["assets"], "the docs page links no static assets"
    assert set(result["assets"].values()) == {200}, result["assets"]
