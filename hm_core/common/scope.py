"""Who acts, for which tenant and facility: the `Scope` every service takes first.

A scope is built once per request (the API's auth), per message (from an event envelope) or
per management command. `scope_active(scope)` marks code that may touch scoped tables; the
scoped manager refuses queries outside it, so a forgotten filter fails closed instead of
leaking another tenant's rows. The context variable is a guard, never an input: selectors
still filter on the scope they are given.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from hm_core.common import rls
from hm_core.common.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    """The acting user with the roles and permissions of their membership in the facility."""

    user_id: uuid.UUID | None
    username: str
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    # Role `patient` (contract §17): the one patient this principal may see; `restricted` is
    # true for every holder of that role, linked or not, so an unlinked one sees nothing.
    patient_id: uuid.UUID | None = None
    restricted: bool = False

    @classmethod
    def system(cls, name: str = "system") -> Principal:
        """The principal of work no person started (commands, replays, policies of the system)."""
        return cls(user_id=None, username=name, roles=frozenset(), permissions=frozenset({"*"}))

    def may(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions


@dataclass(frozen=True)
class RequestContext:
    """Where a command came from, copied into every event's metadata."""

    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    idempotency_key: str | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Scope:
    """Tenant, facility, principal and request context of one unit of work."""

    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    principal: Principal
    context: RequestContext = field(default_factory=RequestContext)

    def require(self, permission: str) -> None:
        """Raise 403 `permission_denied` unless the principal holds `permission`."""
        if not self.principal.may(permission):
            raise PermissionDenied(details={"permission": permission})


class ScopeNotActive(RuntimeError):
    """A scoped table was queried outside `scope_active()`: a programming error, never 4xx."""


_active: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("hm_scope", default=None)
_unscoped: contextvars.ContextVar[str | None] = contextvars.ContextVar("hm_unscoped", default=None)


@contextlib.contextmanager
def scope_active(scope: Scope) -> Iterator[Scope]:
    """Allow scoped queries for `scope` inside the block."""
    token = _active.set(scope)
    try:
        with rls.tenant(scope.tenant_id):  # PostgreSQL: the database keeps to the tenant too
            yield scope
    finally:
        _active.reset(token)


@contextlib.contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """Visibly opt out of the scope guard for cross-tenant work (replay, migrations, admin)."""
    if not reason:
        raise ValueError("unscoped() needs a reason")
    token = _unscoped.set(reason)
    try:
        with rls.system(reason):
            yield
    finally:
        _unscoped.reset(token)


def assert_scope_active(model_label: str) -> None:
    """Raise unless a scope is active or the caller opted out with `unscoped()`."""
    if _active.get() is None and _unscoped.get() is None:
        raise ScopeNotActive(
            f"{model_label} queried outside scope_active(); pass a Scope or use unscoped(reason)"
        )
