"""Contract §17: users, memberships, role grants and facilities, administered by tenant admins.

Mounted at `/api/iam/`. Every write is an `iam.*` event on the tenant's chain (lifecycle.py);
another tenant's user, membership or facility is 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.pagination import paginate
from hm_core.common.schemas import PageParams
from hm_core.iam import lifecycle, selectors
from hm_core.iam.models import Facility, FacilityMembership, User
from hm_core.iam.schemas import (
    FacilityOut,
    FacilityPageOut,
    FacilityUpdateIn,
    MembershipCreateIn,
    MembershipGrantOut,
    RoleOut,
    RolePageOut,
    RolePermissionsIn,
    UserCreateIn,
    UserOut,
    UserPageOut,
)

router = Router(tags=["iam"])


@router.post("/users/", response={201: UserOut, **ERRORS})
def user_create(request: HttpRequest, payload: UserCreateIn) -> Status[User]:
    """Open an account (with `patient`: that patient's own account, role `patient`)."""
    user = lifecycle.user_create(scope=scope_of(request), **payload.model_dump())
    return Status(201, selectors.user_list(scope=scope_of(request)).get(id=user.id))


@router.get("/users/", response={200: UserPageOut, **ERRORS})
def user_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Accounts of the tenant with their memberships in it, newest first."""
    scope = scope_of(request)
    scope.require(lifecycle.USERS_MANAGE)
    return paginate(selectors.user_list(scope=scope), limit=page.limit, offset=page.offset)


@router.post("/users/{user_id}/deactivate/", response={200: UserOut, **ERRORS})
def user_deactivate(request: HttpRequest, user_id: uuid.UUID) -> User:
    """The account is refused from its next request on; its refresh tokens are revoked."""
    user = lifecycle.user_deactivate(scope=scope_of(request), user_id=user_id)
    return selectors.user_list(scope=scope_of(request)).get(id=user.id)


@router.post("/memberships/", response={201: MembershipGrantOut, **ERRORS})
def membership_add(request: HttpRequest, payload: MembershipCreateIn) -> Status[FacilityMembership]:
    """Grant roles in one of the tenant's facilities (added to those the user holds there)."""
    membership = lifecycle.membership_add(
        scope=scope_of(request),
        user_id=payload.user,
        facility_id=payload.facility_id,
        roles=payload.roles,
    )
    return Status(201, membership)


@router.delete("/memberships/{membership_id}/", response={204: None, **ERRORS})
def membership_revoke(request: HttpRequest, membership_id: uuid.UUID) -> Status:
    """Revoke: its holder is refused (403 `scope_forbidden`) from the next request on."""
    lifecycle.membership_revoke(scope=scope_of(request), membership_id=membership_id)
    return Status(204, None)


@router.get("/roles/", response={200: RolePageOut, **ERRORS})
def role_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Every role with the permissions it grants in this tenant, by code."""
    scope = scope_of(request)
    scope.require(lifecycle.USERS_MANAGE)
    roles = selectors.role_list(scope=scope)
    return {"items": roles[page.offset : page.offset + page.limit], "count": len(roles)}


@router.put("/roles/{code}/permissions/", response={200: RoleOut, **ERRORS})
def role_permissions_set(
    request: HttpRequest, code: str, payload: RolePermissionsIn
) -> selectors.RoleView:
    """The role grants exactly these permissions in this tenant from now on."""
    return lifecycle.role_permissions_set(
        scope=scope_of(request), code=code, permissions=payload.permissions
    )


@router.get("/facilities/", response={200: FacilityPageOut, **ERRORS})
def facility_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The tenant's facilities with their IANA time zones, by code."""
    scope = scope_of(request)
    scope.require(lifecycle.TENANT_CONFIGURE)
    return paginate(selectors.facility_list(scope=scope), limit=page.limit, offset=page.offset)


@router.patch("/facilities/{facility_id}/", response={200: FacilityOut, **ERRORS})
def facility_update(
    request: HttpRequest, facility_id: uuid.UUID, payload: FacilityUpdateIn
) -> Facility:
    """Rename a facility or set its IANA time zone (422 for a zone zoneinfo does not know)."""
    return lifecycle.facility_update(
        scope=scope_of(request),
        facility_id=facility_id,
        name=payload.name,
        time_zone=payload.time_zone,
    )
