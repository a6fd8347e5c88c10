"""What the Makefile's servers log and which settings they run with (issue 9: PHI in logs,
`make worker` settings)."""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.utils.log import configure_logging
from gunicorn.config import Config
from gunicorn.glogging import Logger

from config.settings import base

REPO = Path(settings.BASE_DIR)
PHI_QUERY = "search=Jane%20Doe&mrn=LKDF85A"


def _make_dry_run(target: str, **env: str) -> str:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        ["make", "-n", "-C", str(REPO), target],  # noqa: S607
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return result.stdout


def test_gunicorn_access_log_has_the_path_without_the_query_string():
    # given: the configuration `make serve` passes to gunicorn
    assert "-c config/gunicorn.py" in _make_dry_run("serve")
    config = Config()
    for name, value in vars(_gunicorn_settings()).items():
        if name in config.settings:
            config.set(name, value)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/patients/?{PHI_QUERY}",
        "PATH_INFO": "/api/patients/",
        "QUERY_STRING": PHI_QUERY,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://ui.example/patients?{PHI_QUERY}",
        "REMOTE_ADDR": "10.0.0.1",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])

    # when
    atoms = Logger(config).atoms(response, [], environ, datetime.timedelta(milliseconds=3))
    line = config.access_log_format % atoms

    # then
    assert '"GET /api/patients/ HTTP/1.1" 200' in line
    assert "Jane" not in line and "LKDF85A" not in line and "search" not in line


def _gunicorn_settings() -> SimpleNamespace:
    namespace: dict[str, object] = {}
    exec((REPO / "config" / "gunicorn.py").read_text(), namespace)  # noqa: S102 - our own file
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


def test_runserver_request_log_has_no_query_string(caplog):
    # given: the logging configuration of every settings module (dev included)
    configure_logging(settings.LOGGING_CONFIG, base.LOGGING)
    server_log = logging.getLogger("django.server")
    server_log.addHandler(caplog.handler)
    try:
        # when: runserver logs a request the way django.core.servers.basehttp does
        server_log.info('"%s" %s %s', f"GET /api/patients/?{PHI_QUERY} HTTP/1.1", "200", "13")
    finally:
        server_log.removeHandler(caplog.handler)
        server_log.filters.clear()
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)

    # then
    [record] = [r for r in caplog.records if r.name == "django.server"]
    assert record.getMessage() == '"GET /api/patients/ HTTP/1.1" 200 13'


def test_make_worker_runs_with_the_production_settings_like_make_serve():
    # when: neither DJANGO_SETTINGS_MODULE is exported
    env = {"REDIS_URL": "redis://127.0.0.1:6379/15", "DJANGO_SETTINGS_MODULE": ""}
    worker, serve = _make_dry_run("worker", **env), _make_dry_run("serve", **env)

    # then
    assert "export DJANGO_SETTINGS_MODULE=config.settings.prod" in worker
    assert "DJANGO_SETTINGS_MODULE=config.settings.prod" in serve
    assert "run_reconciler" in worker and "dramatiq hm_core.worker" in worker
