"""IAM read use-cases: a user's principal in a facility, and their memberships."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hm_core.common import rls
from hm_core.common.scope import Principal
from hm_core.iam.models import Facility, FacilityMembership, RolePermission, Tenant, User


def principal_in_facility(
    *, user: User, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> Principal | None:
    """The user's roles and permissions in that facility of that tenant; None without an
    active membership (or when the facility is inactive or belongs to another tenant)."""
    rows = list(
        FacilityMembership.objects.filter(
            user=user,
            tenant_id=tenant_id,
            facility_id=facility_id,
            is_active=True,
            facility__is_active=True,
        ).values_list("roles__code", flat=True)
    )
    if not rows:
        return None
    roles = frozenset(code for code in rows if code)
    permissions = frozenset(
        RolePermission.objects.filter(tenant_id=tenant_id, role__code__in=roles).values_list(
            "permission__code", flat=True
        )
    )
    return Principal(user_id=user.id, username=user.username, roles=roles, permissions=permissions)


def principal_of_user(
    *, user_id: uuid.UUID, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> Principal | None:
    """`principal_in_facility` by user id; None for an inactive or unknown user."""
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        return None
    return principal_in_facility(user=user, tenant_id=tenant_id, facility_id=facility_id)


@dataclass(frozen=True)
class MembershipView:
    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    roles: list[str]


def memberships_of(user: User) -> list[MembershipView]:
    """Active memberships with their role codes, in two queries whatever their number.

    Like `principal_in_facility`, a closed facility gives no scope, so it is not listed.
    A deliberate cross-tenant read (PostgreSQL RLS): the user's own rows in every tenant.
    """
    with rls.system("a user's own memberships across tenants (/me, before any scope)"):
        memberships = (
            FacilityMembership.objects.filter(user=user, is_active=True, facility__is_active=True)
            .prefetch_related("roles")
            .order_by("tenant_id", "facility_id")
        )
        return [
            MembershipView(
                tenant_id=m.tenant_id,
                facility_id=m.facility_id,
                roles=sorted(role.code for role in m.roles.all()),
            )
            for m in memberships
        ]


def tenant_currency(*, tenant_id: uuid.UUID) -> str:
    """The ISO 4217 code the tenant bills in now (prices of new charges are in it)."""
    return Tenant.objects.values_list("currency", flat=True).get(id=tenant_id)


def facility_in_tenant(*, tenant_id: uuid.UUID, facility_id: uuid.UUID) -> bool:
    """Whether `facility_id` is one of the tenant's facilities (configuration naming one)."""
    return Facility.objects.filter(tenant_id=tenant_id, id=facility_id).exists()


def facility_code(*, tenant_id: uuid.UUID, facility_id: uuid.UUID) -> str:
    """The facility's short code (`main`), e.g. as MSH-4 of the messages hm_core sends."""
    code = Facility.objects.filter(tenant_id=tenant_id, id=facility_id).values_list(
        "code", flat=True
    )
    return next(iter(code), "")
