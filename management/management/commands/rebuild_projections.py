"""Drop read models and rebuild them from the event store (timelines, tasks, alerts, ...)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.events.replay import rebuild, rebuildable_modules
from hm_core.iam.models import Tenant

DEFAULT_MODULES = ("timeline", "tasks", "alerts")


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most every 1 % of the work."""

    def __init__(self, stream: Any, width: int = 30) -> None:
        self.stream, self.width, self.drawn = stream, width, -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent == self.drawn and done != total:
            return
        self.drawn = percent
        filled = self.width * percent // 100
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {percent:3d}% {done}/{total} events")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = "Drop and replay read models from the event store; equals the live projections."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--only",
            default=",".join(DEFAULT_MODULES),
            help=f"comma-separated modules (default: {','.join(DEFAULT_MODULES)}; "
            f"'all' for {', '.join(rebuildable_modules())})",
        )
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        only = options["only"]
        modules = rebuildable_modules() if only == "all" else [m.strip() for m in only.split(",")]
        tenants = None
        if options["tenant"]:
            tenants = list(
                Tenant.objects.filter(slug=options["tenant"]).values_list("id", flat=True)
            )
            if not tenants:
                raise CommandError(f"no tenant {options['tenant']!r}")
        progress = None if options["no_progress"] else ProgressBar(sys.stderr)
        started = time.perf_counter()
        try:
            report = rebuild(modules, tenant_ids=tenants, progress=progress)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        seconds = time.perf_counter() - started
        rate = report.events / seconds if seconds else 0.0
        self.stdout.write(
            f"rebuild_projections: {', '.join(sorted(modules))} rebuilt from "
            f"{report.events} events of {report.tenants} tenant(s), "
            f"{report.rows_deleted} rows replaced, "
            f"{seconds:.1f}s ({rate:.0f} events/s)"
        )
