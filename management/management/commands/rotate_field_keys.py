"""Re-encrypt the encrypted fields of every read model with the first FIELD_ENCRYPTION_KEYS key.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), restart,
run this command, then drop the old keys. Stored events keep the tokens they were written with
(the hash chain covers them), so a rebuild needs every key that ever wrote an event: keep old
keys for as long as events written with them are replayed (docs/data-protection.md).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hm_core.common.crypto import FieldKeyMissing, rotators
from hm_core.common.scope import unscoped


class Command(BaseCommand):
    help = "Re-encrypt encrypted read-model fields with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        # Every tenant's rows: a platform operation outside any request scope.
        with unscoped("field key rotation"):
            for name, rotate in rotators().items():
                try:
                    count = rotate()
                except FieldKeyMissing as exc:
                    raise CommandError(f"{name}: {exc}") from exc
                self.stdout.write(f"{name}: {count} rows re-encrypted")
