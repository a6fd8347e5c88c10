"""`make serve`'s ASGI server: gunicorn with config/gunicorn.py and uvicorn workers.

HTTP keeps what the WSGI server promised (32 kB headers reach Django; no query string in the
access log: PHI), and the same process upgrades `/ws/events/`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from websockets.sync.client import connect

from tests.listeners import free_port

PHI_QUERY = "search=Jane%20Doe&mrn=LKDF85A"


def test_make_serve_runs_the_asgi_app_under_gunicorn_with_uvicorn_workers(tmp_path: Path) -> None:
    # given: the command line `make serve` runs
    dry = subprocess.run(  # noqa: S603 - fixed arguments
        ["make", "-n", "-C", str(settings.BASE_DIR), "serve"],  # noqa: S607
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "-c config/gunicorn.py" in dry
    assert "config.asgi:application -k config.uvicorn_worker.HmUvicornWorker" in dry
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": "",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
    }
    log = tmp_path / "access.log"
    server = subprocess.Popen(  # noqa: S603 - fixed arguments
        [str(gunicorn), "-c", "config/gunicorn.py", "config.asgi:application",
         "-k", "config.uvicorn_worker.HmUvicornWorker", "-w", "1", "--bind", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # when: a request with a 20 kB header and PHI in its query string, then a socket
        raw = _request(port, f"GET /api/no-such-thing/?{PHI_QUERY} HTTP/1.1", "a" * 20480)
        with connect(f"ws://127.0.0.1:{port}/ws/events/", open_timeout=10) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            ws.send("not json")
            closed = _close_code(ws)
    finally:
        server.terminate()
        server.wait(timeout=10)

    # then: Django's JSON error body, the socket's protocol, and a log without the query
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), raw[:300]
    assert json.loads(body)["error"]["code"] == "not_found"
    assert closed == 4400
    assert extensions is None  # no permessage-deflate: no zlib state per socket
    text = log.read_text()
    assert "/api/no-such-thing/" in text
    assert "Jane" not in text and "LKDF85A" not in text and "search=" not in text


def _close_code(ws: object) -> int | None:
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            ws.recv(timeout=5)  # type: ignore[attr-defined]
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def _request(port: int, line: str, padding: str) -> bytes:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(
                    f"{line}\r\nHost: 127.0.0.1\r\nX-Padding: {padding}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                return b"".join(chunks)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_make_runs_daphnes_runserver_whose_request_log_has_no_query_string(caplog) -> None:
    # given: daphne's runserver (make run), logging a request as it does
    from django.utils.log import configure_logging

    from config.settings import base

    assert settings.INSTALLED_APPS[0] == "daphne"
    configure_logging(settings.LOGGING_CONFIG, base.LOGGING)
    server_log = logging.getLogger("django.channels.server")
    server_log.addHandler(caplog.handler)
    try:
        details = {"method": "GET", "path": f"/api/patients/?{PHI_QUERY}", "status": 200}
        server_log.info("HTTP %(method)s %(path)s %(status)s", details)
    finally:
        server_log.removeHandler(caplog.handler)
        server_log.filters.clear()
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)

    # then
    assert caplog.messages == ["HTTP GET /api/patients/ 200"]
