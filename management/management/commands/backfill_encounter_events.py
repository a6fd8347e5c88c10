"""Synthesize the missing events of encounters that have state but no events (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.encounters.backfill import encounter_backfill
from hm_core.iam.models import Tenant


class Command(BaseCommand):
    help = "Append the events implied by encounters that lack them; a second run appends nothing."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant {options['tenant']!r}")
            tenant_id = tenant.id
        encounters, events = encounter_backfill(tenant_id=tenant_id)
        self.stdout.write(
            f"backfill_encounter_events: {encounters} encounter(s) backfilled, "
            f"{events} event(s) appended"
        )
