"""Load the starter service catalog into a tenant (or every tenant); idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.catalog.services import catalog_seed
from hm_core.catalog.starter import STARTER
from hm_core.iam.models import Tenant


class Command(BaseCommand):
    help = "Create the starter catalog's services a tenant lacks; never changes existing ones."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"no tenant {options['tenant']!r}")
        total = 0
        for tenant in tenants:
            total += catalog_seed(tenant_id=tenant.id, currency=tenant.currency)
        self.stdout.write(
            f"seed_catalog: {total} service(s) created across {tenants.count()} tenant(s); "
            f"starter catalog has {len(STARTER)}"
        )
