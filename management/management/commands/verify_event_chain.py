"""Recompute every tenant's hash chain (or one's), hold it against its latest signed checkpoint
and report the first broken link."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.common import rls
from hm_core.events.chain import ChainReport, verify_chain
from hm_core.iam.models import Tenant


class Command(BaseCommand):
    help = (
        "Verify the per-tenant event hash chains and audit trails (PHI reads included) against "
        "their signed checkpoints; exits non-zero when one is broken."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug or id (default: every tenant)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"]) | tenants.filter(
                id__in=_as_uuid_list(options["tenant"])
            )
            if not tenants.exists():
                raise CommandError(f"no tenant {options['tenant']!r}")
        broken = 0
        checked = 0
        for tenant in tenants:
            with rls.tenant(tenant.id):  # PostgreSQL: this tenant's rows only
                report = verify_chain(tenant.id)
            checked += report.events_checked
            self.stdout.write(
                f"{tenant.slug}: {report.events_checked} events, {_checkpoint(report)}, "
                f"{_status(report)}"
            )
            for name, companion in report.companions.items():
                self.stdout.write(
                    f"{tenant.slug} {name}: {companion.events_checked} records, "
                    f"{_checkpoint(companion)}, {_status(companion)}"
                )
            broken += 0 if report.ok else 1
        summary = f"verify_event_chain: {checked} events checked, {broken} broken chain(s)"
        if broken:
            raise CommandError(summary)
        self.stdout.write(summary)


def _status(report: ChainReport) -> str:
    if report.first_broken is None:
        return "ok" if report.ok else "BROKEN elsewhere"
    return "BROKEN " + json.dumps(report.first_broken)


def _checkpoint(report: ChainReport) -> str:
    if report.checkpoint is None:
        return "no signed checkpoint"
    verdict = "holds" if report.checkpoint["ok"] else "FAILS"
    return f"checkpoint at {report.checkpoint['position']} {verdict}"


def _as_uuid_list(value: str) -> list[str]:
    import uuid

    try:
        return [str(uuid.UUID(value))]
    except ValueError:
        return []
