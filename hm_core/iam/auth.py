"""Request authentication for the API: JWT bearer, then scope from the tenant/facility headers.

`UserAuth` puts the signed-in `User` on `request.auth`; `ScopeAuth` resolves `X-Tenant-ID` and
`X-Facility-ID` once against the user's memberships and puts a `Scope` there instead, then
claims the request's `Idempotency-Key` (contract §1) before the endpoint runs.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja_jwt.exceptions import TokenError
from ninja_jwt.tokens import AccessToken

from hm_core.common import rls
from hm_core.common.client_ip import client_ip
from hm_core.common.errors import ScopeForbidden, ScopeRequired
from hm_core.common.scope import RequestContext, Scope
from hm_core.iam.errors import TokenInvalid
from hm_core.iam.limits import api_rate_limit
from hm_core.iam.models import User
from hm_core.iam.selectors import principal_in_facility
from hm_core.idempotency.services import idempotency_claim


class UserAuth(HttpBearer):
    """Bearer access token → active user, or 401."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            validated = AccessToken(token)
        except TokenError:
            raise TokenInvalid() from None
        user = User.objects.filter(id=validated["user_id"], is_active=True).first()
        if user is None:
            raise TokenInvalid()
        api_rate_limit(user_id=str(user.id))
        request.user = user
        return user


class ScopeAuth(UserAuth):
    """Bearer token plus tenant/facility headers → `Scope`; 400/403 as the contract says."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        # From here on the request sees only the named tenant's rows (PostgreSQL RLS): the
        # membership check cannot find another tenant's, so a tenant the user has no membership
        # of yields no principal. Entered before the user lookup (users carry no tenant) so that
        # a connection serving one tenant's requests needs no role switch between them.
        with contextlib.suppress(ValueError):
            rls.enter_tenant_for_request(uuid.UUID(request.headers.get("X-Tenant-ID", "")))
        user = super().authenticate(request, token)
        tenant_id = _uuid_header(request, "X-Tenant-ID")
        facility_id = _uuid_header(request, "X-Facility-ID")
        principal = principal_in_facility(user=user, tenant_id=tenant_id, facility_id=facility_id)
        if principal is None:
            raise ScopeForbidden()
        scope = Scope(
            tenant_id=tenant_id,
            facility_id=facility_id,
            principal=principal,
            context=request_context(request),
        )
        idempotency_claim(request, scope=scope)
        return scope


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
