"""Request authentication for the API: JWT bearer, then scope from the tenant/facility headers.

`UserAuth` puts the signed-in `User` on `request.auth`; `ScopeAuth` resolves `X-Tenant-ID` and
`X-Facility-ID` once against the user's memberships and puts a `Scope` there instead, then
claims the request's `Idempotency-Key` (contract §1) before the endpoint runs.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja_jwt.exceptions import TokenError
from ninja_jwt.settings import api_settings as jwt_settings
from ninja_jwt.tokens import AccessToken

from hm_core.common import rls
from hm_core.common.client_ip import client_ip
from hm_core.common.errors import ScopeForbidden, ScopeRequired
from hm_core.common.scope import Principal, RequestContext, Scope
from hm_core.iam import principal_cache
from hm_core.iam.errors import TokenInvalid
from hm_core.iam.limits import api_rate_limit
from hm_core.iam.models import User
from hm_core.iam.patient_access import patient_route_guard
from hm_core.iam.selectors import user_and_principal
from hm_core.idempotency.services import idempotency_claim


@dataclass(frozen=True)
class _Claims:
    token_id: str
    user_id: str


def _claims(token: str) -> _Claims:
    """The access token's id and user, checked by signature and expiry only (no query)."""
    try:
        validated = AccessToken(token)
        return _Claims(
            token_id=str(validated[jwt_settings.JTI_CLAIM or "jti"]),
            user_id=str(validated[jwt_settings.USER_ID_CLAIM]),
        )
    except (TokenError, KeyError):
        raise TokenInvalid() from None


def _active_user(claims: _Claims) -> User:
    """The token's user if still active (cached per token until an iam event changes it)."""
    key, user = principal_cache.cached(token_id=claims.token_id, user_id=claims.user_id)
    if user is None:
        user = User.objects.filter(id=claims.user_id, is_active=True).first()
        if user is None:
            raise TokenInvalid()
        principal_cache.store(key, user)
    return user


def _signed_in(request: HttpRequest, user: User) -> None:
    api_rate_limit(user_id=str(user.id))
    request.user = user


class UserAuth(HttpBearer):
    """Bearer access token → active user, or 401."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = _active_user(_claims(token))
        _signed_in(request, user)
        return user


class ScopeAuth(UserAuth):
    """Bearer token plus tenant/facility headers → `Scope`; 400/403 as the contract says.

    A cache hit costs no query: the user and principal of this token in this facility were
    resolved by an earlier request and no iam event has touched them since."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        # From here on the request sees only the named tenant's rows (PostgreSQL RLS): the
        # membership check cannot find another tenant's, so a tenant the user has no membership
        # of yields no principal. Entered before the user lookup (users carry no tenant) so that
        # a connection serving one tenant's requests needs no role switch between them.
        with contextlib.suppress(ValueError):
            rls.enter_tenant_for_request(uuid.UUID(request.headers.get("X-Tenant-ID", "")))
        claims = _claims(token)
        try:
            tenant_id = _uuid_header(request, "X-Tenant-ID")
            facility_id = _uuid_header(request, "X-Facility-ID")
        except ScopeRequired:
            _active_user(claims)  # a revoked user is told 401 before any scope complaint
            raise
        user, principal = _principal(claims, tenant_id=tenant_id, facility_id=facility_id)
        _signed_in(request, user)
        patient_route_guard(request, principal)
        scope = Scope(
            tenant_id=tenant_id,
            facility_id=facility_id,
            principal=principal,
            context=request_context(request),
        )
        idempotency_claim(request, scope=scope)
        return scope


def _principal(
    claims: _Claims, *, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> tuple[User, Principal]:
    """The user and their principal in the facility (403 `scope_forbidden` without an active
    membership), from the cache when an earlier request of this token resolved them."""
    key, hit = principal_cache.cached(
        token_id=claims.token_id,
        user_id=claims.user_id,
        tenant_id=tenant_id,
        facility_id=facility_id,
    )
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    user, principal = user_and_principal(
        user_id=claims.user_id, tenant_id=tenant_id, facility_id=facility_id
    )
    if user is None:
        raise TokenInvalid()
    if principal is None:
        raise ScopeForbidden()
    principal_cache.store(key, (user, principal))
    return user, principal


def _uuid_header(request: HttpRequest, name: str) -> uuid.UUID:
    raw = request.headers.get(name, "")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ScopeRequired(details={"header": name}) from None


def request_context(request: HttpRequest) -> RequestContext:
    """Where the request came from; copied into the metadata of every event it appends."""
    return RequestContext(
        request_id=getattr(request, "request_id", None),
        ip=client_ip(request),
        user_agent=(request.headers.get("User-Agent") or "")[:300] or None,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )


user_auth = UserAuth()
scope_auth = ScopeAuth()
