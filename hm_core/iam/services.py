"""IAM write use-cases: roles and grants, tenants, facilities, users, memberships, tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from ninja_jwt.exceptions import TokenError
from ninja_jwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from ninja_jwt.tokens import RefreshToken

from hm_core.iam import limits
from hm_core.iam.errors import (
    InvalidCredentials,
    ResetTokenInvalid,
    TokenInvalid,
    WeakPassword,
    WrongPassword,
)
from hm_core.iam.models import (
    Facility,
    FacilityMembership,
    Permission,
    Role,
    RolePermission,
    Tenant,
    User,
)
from hm_core.iam.permissions import ALL_DEFAULT_GRANTS, ALL_ROLES, PERMISSIONS


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
        for code, name in ALL_ROLES.items()
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
        for role, codes in ALL_DEFAULT_GRANTS.items()
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
    password_validate(user=user, password=password, field="password")
    user.set_password(password)
    user.save(update_fields=["password"])


def password_validate(*, user: User, password: str, field: str) -> None:
    """422 `weak_password` with the messages of AUTH_PASSWORD_VALIDATORS."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise WeakPassword(
            "The password is too weak: " + " ".join(exc.messages),
            details=[{"field": field, "message": message} for message in exc.messages],
        ) from None


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


def tokens_obtain(*, username: str, password: str, ip: str | None = None) -> TokenPair:
    """Check credentials and issue an access/refresh pair; a locked username or address is
    refused (429) before the password is checked, and each failure counts towards the lock."""
    limits.login_refuse_when_locked(username=username, ip=ip)
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        limits.login_failed(username=username, ip=ip)
        raise InvalidCredentials()
    limits.login_succeeded(username=username)
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


@transaction.atomic
def logout(*, user: User, refresh: str) -> None:
    """Blacklist one refresh token of the signed-in user: it stops working at once."""
    try:
        token = RefreshToken(refresh)
    except TokenError:
        raise TokenInvalid() from None
    if str(token["user_id"]) != str(user.id):
        raise TokenInvalid()
    token.blacklist()


def refresh_tokens_revoke(*, user: User) -> int:
    """Blacklist every outstanding refresh token of `user` (password change or reset)."""
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    revoked = [BlacklistedToken(token=token) for token in outstanding]
    BlacklistedToken.objects.bulk_create(revoked, ignore_conflicts=True)
    return len(revoked)


@transaction.atomic
def password_change(*, user: User, old_password: str, new_password: str, ip: str | None) -> None:
    """Replace the signed-in user's password after checking the current one (400
    `wrong_password`; counted like a failed sign-in, so a stolen access token cannot be used
    to guess it); every refresh token of the user is revoked."""
    limits.login_refuse_when_locked(username=user.username, ip=ip)
    if not user.check_password(old_password):
        limits.login_failed(username=user.username, ip=ip)
        raise WrongPassword()
    _password_replace(user=user, password=new_password)


def _password_replace(*, user: User, password: str) -> None:
    password_validate(user=user, password=password, field="new_password")
    user.set_password(password)
    user.save(update_fields=["password"])
    refresh_tokens_revoke(user=user)


def _reset_token(user: User) -> str:
    """`<user id, base64>.<Django reset token>`: the token's hash covers the password and
    last_login, so it stops working once used; it expires after PASSWORD_RESET_TIMEOUT."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{uid}.{default_token_generator.make_token(user)}"


def password_reset_request(*, username: str) -> None:
    """Email a reset token to an active user with an address. An unknown username gets the
    same answer after the same work (a token made for a throw-away user): no enumeration."""
    user = User.objects.filter(username=username, is_active=True).first()
    target = user or User(username=username, password=make_password(None))
    token = _reset_token(target)
    message = RESET_EMAIL_BODY.format(token=token, minutes=settings.PASSWORD_RESET_TIMEOUT // 60)
    if user is not None and user.email and limits.reset_email_allowed(username=username):
        send_mail(RESET_EMAIL_SUBJECT, message, None, [user.email])


RESET_EMAIL_SUBJECT = "Your hm_core password reset"
RESET_EMAIL_BODY = (
    "Someone asked to reset the password of your hm_core account.\n\n"
    "To choose a new password, send this token to POST /api/auth/password-reset/confirm/ "
    "within {minutes} minutes (it works once):\n\n{token}\n\n"
    "If you did not ask, ignore this email; your password stays as it is.\n"
)


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> None:
    """Set a new password with an emailed token (400 `invalid_token` when used, expired or
    unknown); every refresh token of the user is revoked."""
    user = _reset_token_user(token)
    _password_replace(user=user, password=new_password)


def _reset_token_user(token: str) -> User:
    uid, _, secret = token.partition(".")
    try:
        user_id = uuid.UUID(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError):
        raise ResetTokenInvalid() from None
    user = User.objects.select_for_update().filter(id=user_id, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, secret):
        raise ResetTokenInvalid()
    return user
