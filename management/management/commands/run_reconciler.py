"""Keep async work flowing whatever the broker lost: wake lagging subscriptions, resend due
webhook deliveries, sign the chains' heads every CHAIN_CHECKPOINT_SECONDS. `make worker` runs it
beside the dramatiq workers."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from hm_core.events.checkpoints import checkpoint_if_due
from hm_core.events.reconciler import reconcile

__all__ = ["Command", "reconcile"]


class Command(BaseCommand):
    help = "Wake lagging async subscriptions and resend due webhook deliveries, in a loop."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            try:
                woken, resent = reconcile()
                if woken or resent or options["once"]:
                    self.stdout.write(
                        f"run_reconciler: {woken} tenant(s) woken, {resent} outbound item(s) resent"
                    )
                checkpointed = checkpoint_if_due()
                if checkpointed:
                    self.stdout.write(f"run_reconciler: {checkpointed} chain checkpoint(s) signed")
            except Exception as exc:  # the broker or database is away: try again next pass
                self.stderr.write(f"run_reconciler: pass failed: {exc}")
            finally:
                close_old_connections()
            if options["once"]:
                return
            time.sleep(options["interval"])
