"""Create the roles, permissions and default grants of contract §2; idempotent."""

from typing import Any

from django.core.management.base import BaseCommand

from hm_core.iam.services import roles_ensure


class Command(BaseCommand):
    help = "Create roles and permissions (idempotent) and seed each tenant's default grants."

    def handle(self, *args: Any, **options: Any) -> None:
        report = roles_ensure()
        self.stdout.write(
            f"ensure_roles: {report.roles_created} roles, {report.permissions_created} "
            f"permissions, {report.grants_created} grants created"
        )
