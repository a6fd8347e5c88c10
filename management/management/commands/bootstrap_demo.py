"""Create a demo tenant with facilities `main` and `annex` and one user per role (contract §10).

Idempotent. The password comes from --password, else HM_DEMO_PASSWORD, else a generated one is
printed (only when users are created; existing passwords are left alone unless one is given).
The last line on stdout is one JSON object that tests and acceptance checks parse.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hm_core.catalog.services import catalog_seed
from hm_core.iam import services
from hm_core.iam.permissions import ROLES

EXTRA_USERS = {"lab_tech2": "lab_tech"}
ANNEX_ROLES = ("admin", "doctor")


def _check_password(password: str) -> None:
    """Refuse a weak --password / HM_DEMO_PASSWORD before anything is written."""
    try:
        validate_password(password)
    except ValidationError as exc:
        raise CommandError(
            "bootstrap_demo: the password was refused by AUTH_PASSWORD_VALIDATORS: "
            + " ".join(exc.messages)
        ) from None


class Command(BaseCommand):
    help = "Create (idempotently) a demo tenant, its facilities and one user per role."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", default="demo", help="tenant slug (default: demo)")
        parser.add_argument("--password", default=None, help="password for every demo user")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["tenant"]
        given = options["password"] or os.environ.get("HM_DEMO_PASSWORD") or None
        if given is not None:
            _check_password(given)
        generated = None if given else secrets.token_urlsafe(12)
        services.roles_ensure()
        tenant = services.tenant_ensure(slug=slug, name=f"{slug.title()} Hospital")
        main = services.facility_ensure(tenant=tenant, code="main", name="Main hospital")
        annex = services.facility_ensure(tenant=tenant, code="annex", name="Annex clinic")
        catalog_seed(tenant_id=tenant.id, currency=tenant.currency)
        accounts = {role: role for role in ROLES} | EXTRA_USERS
        users: dict[str, str] = {}
        created_any = False
        for name, role in accounts.items():
            username = f"{name}@{slug}"
            user, created = services.user_ensure(
                username=username,
                full_name=f"Demo {name.replace('_', ' ').title()}",
                password=given,
            )
            if created and generated is not None:
                services.user_set_password(user=user, password=generated)
            created_any = created_any or created
            services.membership_grant(user=user, facility=main, roles=[role])
            if name in ANNEX_ROLES:
                services.membership_grant(user=user, facility=annex, roles=[role])
            users[name] = username
        self._print_credentials(users, given, generated if created_any else None)
        summary = {
            "tenant_id": str(tenant.id),
            "facilities": {"main": str(main.id), "annex": str(annex.id)},
            "users": users,
        }
        self.stdout.write(json.dumps(summary))

    def _print_credentials(
        self, users: dict[str, str], given: str | None, generated: str | None
    ) -> None:
        if given:
            shown = "(the password you gave)"
        elif generated:
            shown = generated
        else:
            shown = "(unchanged; run again with --password to reset)"
        self.stdout.write(f"Demo users (password: {shown}):")
        for role, username in users.items():
            self.stdout.write(f"  {role:<14} {username}")
