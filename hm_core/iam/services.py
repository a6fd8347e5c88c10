"""IAM write use-cases: roles and grants, tenants, facilities, users, memberships, tokens."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from ninja_jwt.exceptions import TokenError
from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from ninja_jwt.tokens import RefreshToken

from hm_core.common.errors import ValidationFailed
from hm_core.iam.errors import InvalidCredentials, TokenInvalid
from hm_core.iam.models import (
    Facility,
    FacilityMembership,
    Permission,
    Role,
    RolePermission,
    Tenant,
    User,
)
from hm_core.iam.permissions import DEFAULT_GRANTS, PERMISSIONS, ROLES


@dataclass(frozen=True)
class RolesReport:
    roles_created: int
    permissions_created: int
    grants_created: int


@transaction.atomic
def roles_ensure() -> RolesReport:
    """Create missing roles and permissions and seed default grants; safe to run any time.

    A tenant's grants are seeded in full once; later runs only grant permissions that are new
    to the catalogue and the default grants of roles that are new (e.g. `integration`), so a
    tenant admin's changes to existing grants are never undone.
    """
    new_roles = {
        code
        for code, name in ROLES.items()
        if Role.objects.update_or_create(code=code, defaults={"name": name})[1]
    }
    new_permissions: set[str] = set()
    for code, description in PERMISSIONS.items():
        _, created = Permission.objects.update_or_create(
            code=code, defaults={"description": description}
        )
        if created:
            new_permissions.add(code)
    grants = 0
    for tenant in Tenant.objects.all():
        seeded = tenant.grants_seeded
        grants += _seed_grants(
            tenant,
            only=None if not seeded else new_permissions,
            new_roles=new_roles if seeded else set(),
        )
    return RolesReport(len(new_roles), len(new_permissions), grants)


def _seed_grants(tenant: Tenant, *, only: set[str] | None, new_roles: set[str]) -> int:
    roles = {role.code: role for role in Role.objects.all()}
    permissions = {perm.code: perm for perm in Permission.objects.all()}
    wanted = [
        RolePermission(tenant=tenant, role=roles[role], permission=permissions[code])
        for role, codes in DEFAULT_GRANTS.items()
        for code in codes
        if only is None or code in only or role in new_roles
    ]
    before = RolePermission.objects.filter(tenant=tenant).count()
    RolePermission.objects.bulk_create(wanted, ignore_conflicts=True)
    if not tenant.grants_seeded:
        tenant.grants_seeded = True
        tenant.save(update_fields=["grants_seeded"])
    return RolePermission.objects.filter(tenant=tenant).count() - before


@transaction.atomic
def tenant_ensure(*, slug: str, name: str, currency: str = "USD") -> Tenant:
    """Get or create a tenant with its default role grants."""
    tenant, _ = Tenant.objects.get_or_create(
        slug=slug, defaults={"name": name, "currency": currency}
    )
    if not tenant.grants_seeded:
        roles_ensure()
    return tenant


def facility_ensure(*, tenant: Tenant, code: str, name: str) -> Facility:
    facility, _ = Facility.objects.get_or_create(tenant=tenant, code=code, defaults={"name": name})
    return facility


@transaction.atomic
def user_ensure(*, username: str, full_name: str, password: str | None) -> tuple[User, bool]:
    """Get or create a user; set the password when one is given (422 if the validators of
    AUTH_PASSWORD_VALIDATORS refuse it)."""
    user, created = User.objects.get_or_create(username=username, defaults={"full_name": full_name})
    if password is not None:
        user_set_password(user=user, password=password)
    return user, created


def user_set_password(*, user: User, password: str) -> None:
    """Every password set by hm_core goes through Django's password validators."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed(
            "The password is too weak: " + " ".join(exc.messages),
            details=[{"field": "password", "message": message} for message in exc.messages],
        ) from None
    user.set_password(password)
    user.save(update_fields=["password"])


def membership_grant(*, user: User, facility: Facility, roles: list[str]) -> FacilityMembership:
    """Make `user` an active member of `facility` holding `roles` (added to existing ones)."""
    membership, _ = FacilityMembership.objects.get_or_create(
        user=user, facility=facility, defaults={"tenant": facility.tenant}
    )
    if not membership.is_active:
        membership.is_active = True
        membership.save(update_fields=["is_active"])
    membership.roles.add(*Role.objects.filter(code__in=roles))
    return membership


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def tokens_obtain(*, username: str, password: str) -> TokenPair:
    """Check credentials and issue an access/refresh pair."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials()
    return _pair_for(user)


@transaction.atomic
def tokens_refresh(*, refresh: str) -> TokenPair:
    """Rotate: issue a new pair and blacklist the presented refresh token.

    The outstanding row is locked so two concurrent refreshes of one token cannot both win.
    """
    try:
        token = RefreshToken(refresh)
    except TokenError:
        raise TokenInvalid() from None
    outstanding = OutstandingToken.objects.select_for_update().filter(jti=token["jti"]).first()
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise TokenInvalid()
    user = User.objects.filter(id=token["user_id"], is_active=True).first()
    if user is None:
        raise TokenInvalid()
    BlacklistedToken.objects.create(token=outstanding)
    return _pair_for(user)


def _pair_for(user: User) -> TokenPair:
    refresh = RefreshToken.for_user(user)  # type: ignore[misc]
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))
