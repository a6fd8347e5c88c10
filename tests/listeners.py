"""The listeners' commands run as an operator runs them: their own process, real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Run:
    first_line: str
    rest: str
    returncode: int


def run_until_sigterm(command: str, *args: str, tmp_path: Path) -> Run:
    """`manage.py <command> <args>` on a scratch SQLite file: its start line, then SIGTERM
    (twice, as `make interfaces` on Ctrl-C does), its remaining output and exit code."""
    env = {**os.environ, "DATABASE_URL": "", "SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", command, *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    return Run(first, out.strip(), process.returncode)
