"""Identity lifecycle decisions: pure functions that return events or raise a coded error."""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Collection, Iterable

from hm_core.common.errors import Conflict, ValidationFailed
from hm_core.iam.events import (
    FacilityUpdated,
    MembershipGranted,
    MembershipRevoked,
    RolePermissionsChanged,
)

PATIENT_ROLE = "patient"


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(details=[{"field": field, "message": message}])


def roles_check(roles: Iterable[str], *, known: Collection[str], patient_linked: bool) -> None:
    """Roles must exist; `patient` is held alone, and only by an account linked to a patient
    (a staff role beside it would lift the one-patient restriction)."""
    roles = set(roles)
    unknown = sorted(roles - set(known))
    if unknown:
        raise _invalid("roles", f"unknown roles: {', '.join(unknown)}")
    if PATIENT_ROLE in roles and not patient_linked:
        raise _invalid("roles", "role patient needs an account created for a patient")
    if patient_linked and roles != {PATIENT_ROLE}:
        raise _invalid("roles", "a patient account holds role patient only")


def grant(
    *,
    membership_id: uuid.UUID,
    user_id: uuid.UUID,
    facility_id: uuid.UUID,
    held: set[str] | None,
    roles: Iterable[str],
) -> list[MembershipGranted]:
    """Add `roles` to the active membership (`held`: its roles, None when not active); nothing
    happens when it is active and already holds them all."""
    wanted = set(roles)
    if held is not None and wanted <= held:
        return []
    return [
        MembershipGranted(
            membership_id=membership_id,
            user_id=user_id,
            facility_id=facility_id,
            roles=sorted(wanted | (held or set())),
        )
    ]


def revoke(
    *, membership_id: uuid.UUID, user_id: uuid.UUID, facility_id: uuid.UUID, active: bool
) -> list[MembershipRevoked]:
    """Revoke an active membership; revoking one that is no longer active is 409."""
    if not active:
        raise Conflict(
            "The membership is already revoked.",
            code="invalid_transition",
            details={"from": "revoked"},
        )
    return [
        MembershipRevoked(membership_id=membership_id, user_id=user_id, facility_id=facility_id)
    ]


def permissions_set(
    *, role: str, current: set[str], wanted: Iterable[str], known: Collection[str]
) -> list[RolePermissionsChanged]:
    """Make `role` grant exactly `wanted`; unknown codes are 422; no change, no event."""
    wanted = set(wanted)
    unknown = sorted(wanted - set(known))
    if unknown:
        raise _invalid("permissions", f"unknown permissions: {', '.join(unknown)}")
    if wanted == current:
        return []
    return [
        RolePermissionsChanged(
            role=role,
            permissions=sorted(wanted),
            added=sorted(wanted - current),
            removed=sorted(current - wanted),
        )
    ]


def time_zone_check(name: str) -> str:
    """An IANA zone name that zoneinfo knows (`Europe/Berlin`), else 422."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _invalid("time_zone", f"{name!r} is not an IANA time zone") from None
    return name


def facility_update(
    *,
    facility_id: uuid.UUID,
    name: str,
    time_zone: str,
    new_name: str | None,
    new_time_zone: str | None,
) -> list[FacilityUpdated]:
    """Rename the facility and/or move it to another zone; no change, no event."""
    changed = []
    if new_name is not None and new_name != name:
        changed.append("name")
    if new_time_zone is not None and time_zone_check(new_time_zone) != time_zone:
        changed.append("time_zone")
    if not changed:
        return []
    return [
        FacilityUpdated(
            facility_id=facility_id,
            name=new_name if new_name is not None else name,
            time_zone=new_time_zone if new_time_zone is not None else time_zone,
            changed=changed,
        )
    ]
