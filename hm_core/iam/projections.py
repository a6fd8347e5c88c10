"""IAM projections: the `iam.*` events set users, memberships, grants and facilities.

Each sets rows to the state its event states (never a delta), so applying an event twice or
replaying the chain in order converges on the live rows. The iam tables are not declared
`rebuildable`: they also hold rows no event made (accounts and memberships from
`bootstrap_demo`, grants seeded by `ensure_roles`), which a drop-and-replay would lose.
Passwords are not in events: the service sets the hash after the projection made the row.
"""

from __future__ import annotations

from django.contrib.auth.hashers import make_password

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.unit_of_work import update, upsert
from hm_core.iam.events import (
    FacilityUpdated,
    MembershipGranted,
    MembershipRevoked,
    RolePermissionsChanged,
    UserCreated,
    UserDeactivated,
)
from hm_core.iam.models import Facility, FacilityMembership, Permission, Role, RolePermission, User


@subscribe(UserCreated)
def user_apply_created(event: UserCreated, meta: EventMeta) -> None:
    """The account row, administered by the event's tenant; a replay keeps its password."""
    if User.objects.filter(id=event.user_id).exists():
        return
    User.objects.create(
        id=event.user_id,
        username=event.username,
        full_name=event.full_name,
        email=event.email,
        home_tenant_id=meta.tenant_id,
        patient_id=event.patient_id,
        password=make_password(None),  # unusable until the service sets the chosen one
        date_joined=meta.occurred_at,
    )


@subscribe(UserDeactivated)
def user_apply_deactivated(event: UserDeactivated, meta: EventMeta) -> None:
    """The account can no longer sign in."""
    update(User.objects.filter(id=event.user_id), is_active=False)


@subscribe(MembershipGranted)
def membership_apply_granted(event: MembershipGranted, meta: EventMeta) -> None:
    """Active membership holding exactly the event's roles."""
    upsert(
        FacilityMembership,
        id=event.membership_id,
        defaults={
            "user_id": event.user_id,
            "tenant_id": meta.tenant_id,
            "facility_id": event.facility_id,
            "is_active": True,
        },
    )
    through = FacilityMembership.roles.through
    through.objects.filter(facilitymembership_id=event.membership_id).delete()
    through.objects.bulk_create(
        through(facilitymembership_id=event.membership_id, role_id=role_id)
        for role_id in Role.objects.filter(code__in=event.roles).values_list("id", flat=True)
    )


@subscribe(MembershipRevoked)
def membership_apply_revoked(event: MembershipRevoked, meta: EventMeta) -> None:
    """The membership stays, inactive: re-granting reactivates the same row and stream."""
    update(
        FacilityMembership.objects.filter(id=event.membership_id, tenant_id=meta.tenant_id),
        is_active=False,
    )


@subscribe(RolePermissionsChanged)
def role_grants_apply_changed(event: RolePermissionsChanged, meta: EventMeta) -> None:
    """The tenant's grants of the role become exactly the event's permissions."""
    role = Role.objects.get(code=event.role)
    RolePermission.objects.filter(tenant_id=meta.tenant_id, role=role).exclude(
        permission__code__in=event.permissions
    ).delete()
    RolePermission.objects.bulk_create(
        [
            RolePermission(tenant_id=meta.tenant_id, role=role, permission=permission)
            for permission in Permission.objects.filter(code__in=event.permissions)
        ],
        ignore_conflicts=True,
    )


@subscribe(FacilityUpdated)
def facility_apply_updated(event: FacilityUpdated, meta: EventMeta) -> None:
    """Name and zone as the event gives them."""
    update(
        Facility.objects.filter(id=event.facility_id, tenant_id=meta.tenant_id),
        name=event.name,
        time_zone=event.time_zone,
    )
