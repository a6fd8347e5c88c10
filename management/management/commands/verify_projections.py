"""Rebuild every tenant's read models (or one's) into scratch tables and report each live row
that differs from the rebuild: a read model edited behind the application's back."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.common import rls
from hm_core.events.projection_check import ProjectionReport, verify_projections
from hm_core.events.replay import rebuildable_modules
from hm_core.iam.models import Tenant


class Command(BaseCommand):
    help = (
        "Replay each tenant's events into scratch copies of its read models and report every "
        "live row that is missing, unexpected or different (docs/integrity.md); exits non-zero "
        "when one differs. The live tables are only read."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug or id (default: every tenant)")
        parser.add_argument(
            "--only", help=f"comma-separated modules (default: all of {rebuildable_modules()})"
        )
        parser.add_argument("--limit", type=int, default=100, help="rows listed per tenant")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = list(Tenant.objects.order_by("slug").values_list("id", "slug"))
        if options["tenant"]:
            wanted = options["tenant"]
            tenants = [(tid, slug) for tid, slug in tenants if wanted in (slug, str(tid))]
            if not tenants:
                raise CommandError(f"no tenant {wanted!r}")
        modules = options["only"].split(",") if options["only"] else None
        differing = 0
        for tenant_id, slug in tenants:
            with rls.tenant(tenant_id):  # as DB_APP_ROLE: this tenant's rows only
                try:
                    report = verify_projections(tenant_id, modules=modules, limit=options["limit"])
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
            self._print(slug, report)
            differing += 0 if report.ok else 1
        if differing:
            raise CommandError(
                f"verify_projections: {differing} tenant(s) with read models that differ "
                "from their events"
            )
        self.stdout.write(f"verify_projections: {len(tenants)} tenant(s), read models match")

    def _print(self, slug: str, report: ProjectionReport) -> None:
        checked = (
            f"{report.rows_checked} rows in {report.tables_checked} tables, "
            f"{report.events_replayed} events replayed"
        )
        if report.ok:
            self.stdout.write(f"{slug}: ok ({checked})")
            return
        self.stdout.write(f"{slug}: {report.differences_total} row(s) differ ({checked})")
        for diff in report.differences:
            fields = f": {', '.join(diff['fields'])}" if diff["fields"] else ""
            self.stdout.write(f"  {diff['table']} {diff['pk']} {diff['difference']}{fields}")
        if report.differences_total > len(report.differences):
            self.stdout.write(f"  ... {report.differences_total - len(report.differences)} more")
