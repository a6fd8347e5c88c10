"""A real ASGI server process (uvicorn on a free port) on the test database, for real sockets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from tests.listeners import free_port


@dataclass(frozen=True)
class Server:
    port: int
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/events/"


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def asgi_server(**env: str) -> Iterator[Server]:
    """`uvicorn config.asgi:application` with the suite's settings on the test database (and
    `make serve`'s WebSocket options); the safety poll is made long, so that pushes prove the
    announcements (NOTIFY, Redis) work."""
    port = free_port()
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "REALTIME_SAFETY_POLL_MS": "30000",
        "REALTIME_RECHECK_SECONDS": "0.5",
        "REDIS_URL": "",
        **env,
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and app
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port),
         "--no-access-log", "--log-level", "warning", "--ws-per-message-deflate", "false"],
        cwd=settings.BASE_DIR,
        env=full_env,
    )  # fmt: skip
    try:
        _wait_until_up(port, process)
        yield Server(port=port, env=full_env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    # Generous: the first request imports every router (seconds on a loaded 2-core machine).
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the ASGI server exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=15)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the ASGI server did not start within 90 s")
