"""Sign each tenant's chain head (or one tenant's) and write it to CHAIN_CHECKPOINT_DIR."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.common import rls
from hm_core.events.checkpoints import write_checkpoint
from hm_core.iam.models import Tenant


class Command(BaseCommand):
    help = (
        "Write a signed checkpoint (Ed25519, CHAIN_SIGNING_KEY) of every tenant's event chain "
        "head, or of one tenant's, to CHAIN_CHECKPOINT_DIR (docs/integrity.md)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug or id (default: every tenant)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = list(Tenant.objects.order_by("slug").values_list("id", "slug"))
        if options["tenant"]:
            wanted = options["tenant"]
            tenants = [(tid, slug) for tid, slug in tenants if wanted in (slug, str(tid))]
            if not tenants:
                raise CommandError(f"no tenant {wanted!r}")
        written = 0
        for tenant_id, slug in tenants:
            with rls.tenant(tenant_id):  # PostgreSQL: this tenant's head only
                checkpoint = write_checkpoint(uuid.UUID(str(tenant_id)))
            if checkpoint is None:
                self.stdout.write(f"{slug}: no events, nothing to sign")
                continue
            written += 1
            self.stdout.write(
                f"{slug}: position {checkpoint.position} head {checkpoint.head_hash[:16]}... "
                f"signed ({checkpoint.file})"
            )
        self.stdout.write(f"checkpoint_chain: {written} tenant(s) checkpointed")
