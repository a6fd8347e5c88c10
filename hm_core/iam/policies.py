"""IAM policies: who may act changed, so the cached principals it concerns are orphaned."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.iam import principal_cache
from hm_core.iam.events import (
    MembershipGranted,
    MembershipRevoked,
    RolePermissionsChanged,
    UserDeactivated,
)


@subscribe(MembershipGranted, MembershipRevoked, UserDeactivated, stage=Stage.POLICY)
def principal_cache_invalidate_when_user_access_changed(
    event: MembershipGranted | MembershipRevoked | UserDeactivated, meta: EventMeta
) -> None:
    """The user's next request, with any token, reads their memberships afresh."""
    principal_cache.invalidate(user_ids=[event.user_id])


@subscribe(RolePermissionsChanged, stage=Stage.POLICY)
def principal_cache_invalidate_when_tenant_grants_changed(
    event: RolePermissionsChanged, meta: EventMeta
) -> None:
    """A role's grants changed for everyone holding it in the tenant."""
    principal_cache.invalidate(tenant_id=meta.tenant_id)
