"""Serve HL7 v2 over MLLP for every tenant's channels (contract §11); `make interfaces` runs it.

One process, one port: the channel is found from each message's MSH-3/MSH-4, so adding a
sender is an API call, never a restart. SIGINT/SIGTERM stop it gracefully (exit 0).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.interop.mllp import ListenerConfig, MllpListener, listener_config


class Command(BaseCommand):
    help = "Listen for HL7 v2 messages over MLLP on one port for every tenant's channels."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind")
        parser.add_argument("--port", type=int, default=2575, help="TCP port (HL7 MLLP: 2575)")

    def handle(self, *args: Any, **options: Any) -> None:
        config = listener_config(host=options["host"], port=options["port"])
        try:
            asyncio.run(self._serve(config))
        except OSError as exc:  # port taken, address not local: say so, no traceback
            raise CommandError(
                f"run_mllp: cannot listen on {config.host}:{config.port}: {exc}"
            ) from exc

    async def _serve(self, config: ListenerConfig) -> None:
        listener = MllpListener(config)
        await listener.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        host, port = listener.address
        self.stdout.write(f"MLLP listening on {host}:{port}")
        self.stdout.flush()  # a supervisor (or a test) waits for this line: do not buffer it
        await stop.wait()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # A second Ctrl-C or `kill 0` from `make interfaces` must not cut the graceful stop
            # (in-flight ACKs) short or kill the interpreter while it finalises.
            loop.remove_signal_handler(signum)
            signal.signal(signum, signal.SIG_IGN)
        await listener.stop()
        stats = listener.stats
        self.stdout.write(
            f"run_mllp: stopped; {stats.messages} message(s) answered "
            f"on {stats.connections} connection(s)"
        )
