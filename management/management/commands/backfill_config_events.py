"""Record on the chain the tenant configuration that predates its events (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.events.backfill import config_backfill_run
from hm_core.iam.models import Tenant
from hm_core.iam.selectors import facility_first


class Command(BaseCommand):
    help = (
        "Append the events of close-gate rules and webhook endpoints written before their"
        " changes were events; run once after upgrading, before any rebuild_projections."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant {options['tenant']!r}")
            tenant_id = tenant.id
        counts = config_backfill_run(
            tenant_id=tenant_id, facility_of=lambda t: facility_first(tenant_id=t)
        )
        done = ", ".join(f"{name}: {n} event(s)" for name, n in counts.items())
        self.stdout.write(f"backfill_config_events: {done or 'nothing registered'}")
