"""IAM read use-cases: a user's principal in a facility, and their memberships."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, F, FilteredRelation, OuterRef, Prefetch, Q, QuerySet

from hm_core.common import rls
from hm_core.common.db import CompiledQuery
from hm_core.common.errors import NotFound
from hm_core.common.scope import Principal, Scope
from hm_core.iam.domain import PATIENT_ROLE
from hm_core.iam.models import (
    Facility,
    FacilityMembership,
    Permission,
    Role,
    RolePermission,
    Tenant,
    User,
)


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
    return _principal(user, tenant_id=tenant_id, roles=roles, permissions=permissions)


def user_and_principal(
    *, user_id: uuid.UUID | str, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> tuple[User | None, Principal | None]:
    """`principal_of_user` and the user in one statement (authentication on a cache miss): the
    active user joined to their active membership of that active facility, its roles and the
    tenant's grants of those roles; one row per (role, permission). (None, None) for an
    inactive or unknown user; (user, None) without such a membership.

    The statement is `principal_rows`, compiled once per process and database (compiling it
    cost more CPU than the rest of a patient read's authentication, issue 10), and its rows
    stay tuples: one `User` is built, of the first (not one per role and permission)."""
    alias, columns, rows = _PRINCIPAL_ROWS.rows(
        user_id=user_id, tenant_id=tenant_id, facility_id=facility_id
    )
    if not rows:
        return None, None
    at = [columns.index(name) for name in ("open_facility_id", "role_code", "permission_code")]
    user = _PRINCIPAL_ROWS.instance(alias, columns, rows[0])
    grants = [tuple(row[i] for i in at) for row in rows]
    return user, _principal_of_grants(user, grants, tenant_id=tenant_id)


def principal_rows(
    *, user_id: uuid.UUID | str, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> QuerySet[User]:
    """The rows of `user_and_principal` as a queryset: the user, once per (role, permission),
    with `open_facility_id`, `role_code` and `permission_code` (None where a join found
    nothing)."""
    return (
        User.objects.filter(id=user_id, is_active=True)
        .annotate(
            membership=FilteredRelation(
                "memberships",
                condition=Q(
                    memberships__tenant_id=tenant_id,
                    memberships__facility_id=facility_id,
                    memberships__is_active=True,
                ),
            )
        )
        .annotate(
            open_facility=FilteredRelation(
                "membership__facility", condition=Q(membership__facility__is_active=True)
            ),
            tenant_grant=FilteredRelation(
                "membership__roles__rolepermission",
                condition=Q(membership__roles__rolepermission__tenant_id=tenant_id),
            ),
        )
        .annotate(
            open_facility_id=F("open_facility__id"),
            role_code=F("membership__roles__code"),
            permission_code=F("tenant_grant__permission__code"),
        )
    )


_PRINCIPAL_ROWS = CompiledQuery(
    User,
    principal_rows,
    user_id=User._meta.pk,
    tenant_id=FacilityMembership._meta.get_field("tenant"),
    facility_id=FacilityMembership._meta.get_field("facility"),
)


def principal_from_rows(
    rows: list[User], *, tenant_id: uuid.UUID
) -> tuple[User | None, Principal | None]:
    """The user and principal that `principal_rows` found (see `user_and_principal`)."""
    if not rows:
        return None, None
    grants = [
        (row.open_facility_id, row.role_code, row.permission_code)  # type: ignore[attr-defined]
        for row in rows
    ]
    return rows[0], _principal_of_grants(rows[0], grants, tenant_id=tenant_id)


def _principal_of_grants(
    user: User, grants: list[tuple[object, str | None, str | None]], *, tenant_id: uuid.UUID
) -> Principal | None:
    """The principal of `principal_rows`' (open facility, role, permission) columns: None when
    the membership's facility was not found open."""
    if grants[0][0] is None:
        return None
    roles = frozenset(role for _, role, _ in grants if role)
    permissions = frozenset(permission for _, _, permission in grants if permission)
    return _principal(user, tenant_id=tenant_id, roles=roles, permissions=permissions)


def _principal(
    user: User, *, tenant_id: uuid.UUID, roles: frozenset[str], permissions: frozenset[str]
) -> Principal:
    restricted = PATIENT_ROLE in roles
    linked = restricted and user.home_tenant_id == tenant_id
    return Principal(
        user_id=user.id,
        username=user.username,
        roles=roles,
        permissions=permissions,
        patient_id=user.patient_id if linked else None,
        restricted=restricted,
    )


def principal_of_user(
    *, user_id: uuid.UUID, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> Principal | None:
    """`principal_in_facility` by user id; None for an inactive or unknown user."""
    _, principal = user_and_principal(user_id=user_id, tenant_id=tenant_id, facility_id=facility_id)
    return principal


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


def user_list(*, scope: Scope) -> QuerySet[User]:
    """Accounts the tenant administers or that hold a membership in it, newest first."""
    member = FacilityMembership.objects.filter(user=OuterRef("pk"), tenant_id=scope.tenant_id)
    return (
        User.objects.filter(Q(home_tenant_id=scope.tenant_id) | Q(Exists(member)))
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=FacilityMembership.objects.filter(tenant_id=scope.tenant_id)
                .prefetch_related("roles")
                .order_by("facility_id"),
            )
        )
        .order_by("-date_joined", "id")
    )


def user_get_administered(*, scope: Scope, user_id: uuid.UUID, lock: bool = False) -> User:
    """An account this tenant's admins may change: its own, or one without a home tenant whose
    memberships are all in this tenant. Anything else is 404, as if it did not exist."""
    users = User.objects.select_for_update() if lock else User.objects.all()
    user = users.filter(id=user_id).first()
    if user is None or not _administers(scope.tenant_id, user):
        raise NotFound()
    return user


def _administers(tenant_id: uuid.UUID, user: User) -> bool:
    if user.home_tenant_id is not None:
        return bool(user.home_tenant_id == tenant_id)
    tenants = set(FacilityMembership.objects.filter(user=user).values_list("tenant_id", flat=True))
    return tenants == {tenant_id}


def user_username_taken(*, username: str) -> bool:
    return User.objects.filter(username=username).exists()


def membership_get(
    *, scope: Scope, membership_id: uuid.UUID, lock: bool = False
) -> FacilityMembership:
    """A membership in one of the tenant's facilities; another tenant's is 404."""
    memberships = (
        FacilityMembership.objects.select_for_update() if lock else FacilityMembership.objects
    )
    membership = memberships.filter(id=membership_id, tenant_id=scope.tenant_id).first()
    if membership is None:
        raise NotFound()
    return membership


def membership_find(
    *, scope: Scope, user_id: uuid.UUID, facility_id: uuid.UUID
) -> FacilityMembership | None:
    """The (possibly inactive) membership of the user in that facility of the tenant, locked."""
    return (
        FacilityMembership.objects.select_for_update()
        .filter(user_id=user_id, facility_id=facility_id, tenant_id=scope.tenant_id)
        .first()
    )


def membership_roles(*, membership_id: uuid.UUID) -> set[str]:
    return set(
        Role.objects.filter(facilitymembership__id=membership_id).values_list("code", flat=True)
    )


def role_codes() -> set[str]:
    return set(Role.objects.values_list("code", flat=True))


def permission_codes() -> set[str]:
    return set(Permission.objects.values_list("code", flat=True))


@dataclass(frozen=True)
class RoleView:
    code: str
    name: str
    permissions: list[str]


def role_list(*, scope: Scope) -> list[RoleView]:
    """Every role with the permissions it grants in this tenant, in two queries."""
    grants: dict[int, list[str]] = {}
    for role_id, code in (
        RolePermission.objects.filter(tenant_id=scope.tenant_id)
        .order_by("permission__code")
        .values_list("role_id", "permission__code")
    ):
        grants.setdefault(role_id, []).append(code)
    return [
        RoleView(code=role.code, name=role.name, permissions=grants.get(role.id, []))
        for role in Role.objects.order_by("code")
    ]


def role_get(*, code: str) -> Role:
    role = Role.objects.filter(code=code).first()
    if role is None:
        raise NotFound()
    return role


def role_permissions(*, scope: Scope, role: Role) -> set[str]:
    return set(
        RolePermission.objects.filter(tenant_id=scope.tenant_id, role=role).values_list(
            "permission__code", flat=True
        )
    )


def facility_list(*, scope: Scope) -> QuerySet[Facility]:
    return Facility.objects.filter(tenant_id=scope.tenant_id).order_by("code")


def facility_get(*, scope: Scope, facility_id: uuid.UUID, lock: bool = False) -> Facility:
    """One of the tenant's facilities; another tenant's is 404."""
    facilities = Facility.objects.select_for_update() if lock else Facility.objects
    facility = facilities.filter(id=facility_id, tenant_id=scope.tenant_id).first()
    if facility is None:
        raise NotFound()
    return facility


def tenant_lock(*, tenant_id: uuid.UUID) -> None:
    """Hold the tenant row until commit: orders changes that have no row of their own."""
    Tenant.objects.select_for_update().filter(id=tenant_id).values_list("id", flat=True).first()


def facility_first(*, tenant_id: uuid.UUID) -> uuid.UUID | None:
    """The tenant's first facility by code: where tenant-wide operator work records its events."""
    return (
        Facility.objects.filter(tenant_id=tenant_id)
        .order_by("code")
        .values_list("id", flat=True)
        .first()
    )


def facility_time_zone(*, tenant_id: uuid.UUID, facility_id: uuid.UUID) -> str:
    """The IANA zone the facility keeps its hours in (`UTC` unless an admin set one).

    Read under the tenant's head lock by the reports' rollups on most commands: its statement
    is compiled once per process and database (`CompiledQuery`)."""
    _, _, rows = _FACILITY_TIME_ZONE.rows(tenant_id=tenant_id, facility_id=facility_id)
    return str(rows[0][0]) if rows else "UTC"


def _facility_time_zone_rows(*, tenant_id: uuid.UUID, facility_id: uuid.UUID) -> QuerySet[Any]:
    return Facility.objects.filter(tenant_id=tenant_id, id=facility_id).values_list("time_zone")


_FACILITY_TIME_ZONE = CompiledQuery(
    Facility,
    _facility_time_zone_rows,
    tenant_id=Facility._meta.get_field("tenant"),
    facility_id=Facility._meta.pk,
)


def user_has_role_in_facility(
    *, user_id: uuid.UUID, tenant_id: uuid.UUID, facility_id: uuid.UUID, roles: tuple[str, ...]
) -> bool:
    """Whether the active user holds one of `roles` through an active membership there."""
    return FacilityMembership.objects.filter(
        user_id=user_id,
        user__is_active=True,
        tenant_id=tenant_id,
        facility_id=facility_id,
        is_active=True,
        roles__code__in=roles,
    ).exists()


@dataclass(frozen=True)
class TenantAdmin:
    user_id: uuid.UUID
    username: str
    facility_id: uuid.UUID


def tenant_admins(
    *, tenant_id: uuid.UUID, prefer_facility: uuid.UUID | None = None
) -> list[TenantAdmin]:
    """The tenant's active administrators, each once, with a facility they work in (the
    preferred one when they have it): where an alert for them is raised. One query."""
    rows = (
        FacilityMembership.objects.filter(
            tenant_id=tenant_id,
            is_active=True,
            facility__is_active=True,
            user__is_active=True,
            roles__code="admin",
        )
        .values_list("user_id", "user__username", "facility_id")
        .order_by("user__username", "facility_id")
    )
    admins: dict[uuid.UUID, TenantAdmin] = {}
    for user_id, username, facility_id in rows:
        if user_id not in admins or facility_id == prefer_facility:
            admins[user_id] = TenantAdmin(user_id, username, facility_id)
    return list(admins.values())
