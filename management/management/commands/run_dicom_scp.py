"""Serve DICOM (contract §13): C-ECHO, C-STORE and Modality Worklist C-FIND on one port for every
tenant's `dicom` channels; `make dicom` (and `make interfaces`) run it.

The calling AE title routes each association to its channel's tenant and facility; adding a
modality is an API call, never a restart. SIGINT/SIGTERM stop it gracefully (exit 0).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.imaging import scp


class Command(BaseCommand):
    help = "Listen for DICOM associations (echo, store, modality worklist) for every tenant."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind")
        parser.add_argument("--port", type=int, default=11112, help="TCP port (DICOM: 11112)")
        parser.add_argument("--ae-title", default="HMCORE", help="this SCP's AE title")

    def handle(self, *args: Any, **options: Any) -> None:
        # pynetdicom's own INFO lines would double ours (one per association and per instance).
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        try:
            server = scp.start(
                host=options["host"], port=options["port"], ae_title=options["ae_title"]
            )
        except OSError as exc:  # port taken, address not local: say so, no traceback
            raise CommandError(
                f"run_dicom_scp: cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        host, port = server.server_address[:2]
        self.stdout.write(f"DICOM SCP {options['ae_title']} listening on {host}:{port}")
        self.stdout.flush()  # a supervisor (or a test) waits for this line: do not buffer it
        stop.wait()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # A second Ctrl-C or `kill 0` from `make interfaces` must not cut the shutdown of the
            # association threads short or kill the interpreter while it finalises.
            signal.signal(signum, signal.SIG_IGN)
        server.shutdown()
        self.stdout.write("run_dicom_scp: stopped")
