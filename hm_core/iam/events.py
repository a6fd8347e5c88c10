"""Identity lifecycle events (contract §17), on the chain of the tenant whose admin acted.

Streams: ("user", user_id) for accounts the tenant administers, ("membership", membership_id)
for one user's roles in one facility, ("role_grants", `role_grants_stream_id(tenant, role)`)
for the permissions one role grants in one tenant, and ("facility", facility_id).
Payloads carry the resulting state (the full role set, the full permission list), so a
projection sets rows to what the event says and replaying it twice changes nothing. A password
never travels in an event: `password_set` says one was chosen, the hash stays in the user row.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from hm_core.events.base import DomainEvent

_ROLE_GRANTS_NAMESPACE = uuid.UUID("5d0c4f2e-8a43-4f55-9a3e-6f1f2b7c9d21")


def role_grants_stream_id(tenant_id: uuid.UUID, role: str) -> uuid.UUID:
    """The stream of one role's grants in one tenant: stable, so its versions count changes."""
    return uuid.uuid5(_ROLE_GRANTS_NAMESPACE, f"{tenant_id}:{role}")


class UserCreated(DomainEvent):
    """A tenant admin opened an account; with `patient_id` it is that patient's own account."""

    event_type: ClassVar[str] = "iam.user_created"
    user_id: uuid.UUID
    username: str
    full_name: str
    email: str
    password_set: bool
    patient_id: uuid.UUID | None = None

    def summary(self) -> str:
        kind = "Patient account" if self.patient_id else "User"
        return f"{kind} created: {self.username}"


class UserDeactivated(DomainEvent):
    """The account can no longer sign in; its tokens are refused from the next request on."""

    event_type: ClassVar[str] = "iam.user_deactivated"
    user_id: uuid.UUID
    username: str

    def summary(self) -> str:
        return f"User deactivated: {self.username}"


class MembershipGranted(DomainEvent):
    """The user is an active member of the facility holding exactly `roles`."""

    event_type: ClassVar[str] = "iam.membership_granted"
    membership_id: uuid.UUID
    user_id: uuid.UUID
    facility_id: uuid.UUID
    roles: list[str]

    def summary(self) -> str:
        return f"Membership granted: {', '.join(self.roles)}"


class MembershipRevoked(DomainEvent):
    """The membership no longer gives a scope: its holder is refused from the next request on."""

    event_type: ClassVar[str] = "iam.membership_revoked"
    membership_id: uuid.UUID
    user_id: uuid.UUID
    facility_id: uuid.UUID

    def summary(self) -> str:
        return "Membership revoked"


class RolePermissionsChanged(DomainEvent):
    """In this tenant, `role` now grants exactly `permissions` (what changed: added/removed)."""

    event_type: ClassVar[str] = "iam.role_permissions_changed"
    role: str
    permissions: list[str]
    added: list[str]
    removed: list[str]

    def summary(self) -> str:
        return f"Permissions of role {self.role} changed: +{len(self.added)} -{len(self.removed)}"


class FacilityUpdated(DomainEvent):
    """The facility's name or time zone (IANA) changed; both are given as they now stand."""

    event_type: ClassVar[str] = "iam.facility_updated"
    facility_id: uuid.UUID
    name: str
    time_zone: str
    changed: list[str]

    def summary(self) -> str:
        return f"Facility updated: {', '.join(self.changed)}"
