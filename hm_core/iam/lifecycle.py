"""Identity lifecycle use-cases for tenant admins (contract §17): each change is an `iam.*`
event on the tenant's chain, written through the bus; projections update the iam tables.

Every service checks that what it touches belongs to the admin's tenant (404 otherwise) and
locks the row it changes, so two admins acting at once apply one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.contrib.auth.hashers import make_password
from django.db import transaction

from hm_core.common.errors import Conflict, NotFound, ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.iam import domain, selectors
from hm_core.iam.events import UserCreated, UserDeactivated, role_grants_stream_id
from hm_core.iam.models import Facility, FacilityMembership, User
from hm_core.iam.services import password_validate, refresh_tokens_revoke
from hm_core.patients.selectors import patient_get

USERS_MANAGE = "users.manage"
TENANT_CONFIGURE = "tenant.configure"


def _publish(scope: Scope, stream: StreamRef, events: Sequence[DomainEvent]) -> None:
    # No expected version: each service holds the changed row's lock while it decides, and
    # the tenant's append lock orders the appends.
    if events:
        publish(scope=scope, stream=stream, expected_version=None, events=events)


@transaction.atomic
def user_create(
    *,
    scope: Scope,
    username: str,
    full_name: str,
    email: str,
    password: str | None = None,
    patient: uuid.UUID | None = None,
) -> User:
    """Open an account administered by the tenant; with `patient`, the patient's own account,
    a member of the admin's facility with role `patient` only. The password (validated like
    every other) is stored hashed in the user row only; the event says that one was set."""
    scope.require(USERS_MANAGE)
    if selectors.user_username_taken(username=username):
        raise Conflict("The username is taken.", code="username_taken")
    if patient is not None:
        _patient_check(scope, patient)
    if password is not None:
        password_validate(
            user=User(username=username, email=email, full_name=full_name),
            password=password,
            field="password",
        )
    user_id = uuid.uuid4()
    event = UserCreated(
        user_id=user_id,
        username=username,
        full_name=full_name,
        email=email,
        password_set=password is not None,
        patient_id=patient,
    )
    _publish(scope, StreamRef("user", user_id), [event])
    if password is not None:
        User.objects.filter(id=user_id).update(password=make_password(password))
    if patient is not None:
        _membership_grant(scope, user_id=user_id, facility_id=scope.facility_id, roles=["patient"])
    return User.objects.get(id=user_id)


def _patient_check(scope: Scope, patient_id: uuid.UUID) -> None:
    """The patient exists in the tenant and has no account yet (422 otherwise)."""
    try:
        with scope_active(scope):
            patient_get(scope=scope, patient_id=patient_id)
    except NotFound:
        raise ValidationFailed(
            details=[{"field": "patient", "message": "no such patient in this tenant"}]
        ) from None
    if User.objects.filter(home_tenant_id=scope.tenant_id, patient_id=patient_id).exists():
        raise Conflict("The patient already has an account.", code="patient_has_account")


@transaction.atomic
def user_deactivate(*, scope: Scope, user_id: uuid.UUID) -> User:
    """The account can no longer sign in; its access tokens are refused from the next request
    on and its refresh tokens are revoked. Deactivating an inactive account is 409."""
    scope.require(USERS_MANAGE)
    user = selectors.user_get_administered(scope=scope, user_id=user_id, lock=True)
    if not user.is_active:
        raise Conflict(
            "The user is already deactivated.",
            code="invalid_transition",
            details={"from": "inactive"},
        )
    event = UserDeactivated(user_id=user.id, username=user.username)
    _publish(scope, StreamRef("user", user.id), [event])
    refresh_tokens_revoke(user=user)
    user.refresh_from_db()
    return user


@transaction.atomic
def membership_add(
    *, scope: Scope, user_id: uuid.UUID, facility_id: uuid.UUID, roles: list[str]
) -> FacilityMembership:
    """Make the user an active member of one of the tenant's facilities holding `roles` (added
    to those it holds); the user and the facility must be the tenant's (404 otherwise)."""
    scope.require(USERS_MANAGE)
    user = selectors.user_get_administered(scope=scope, user_id=user_id, lock=True)
    if not user.is_active:
        raise Conflict(
            "The user is deactivated.", code="invalid_transition", details={"from": "inactive"}
        )
    facility = selectors.facility_get(scope=scope, facility_id=facility_id)
    domain.roles_check(
        roles, known=selectors.role_codes(), patient_linked=user.patient_id is not None
    )
    return _membership_grant(scope, user_id=user.id, facility_id=facility.id, roles=roles)


def _membership_grant(
    scope: Scope, *, user_id: uuid.UUID, facility_id: uuid.UUID, roles: list[str]
) -> FacilityMembership:
    existing = selectors.membership_find(scope=scope, user_id=user_id, facility_id=facility_id)
    membership_id = existing.id if existing else uuid.uuid4()
    held = None
    if existing is not None and existing.is_active:
        held = selectors.membership_roles(membership_id=existing.id)
    events = domain.grant(
        membership_id=membership_id,
        user_id=user_id,
        facility_id=facility_id,
        held=held,
        roles=roles,
    )
    _publish(scope, StreamRef("membership", membership_id), events)
    return FacilityMembership.objects.prefetch_related("roles").get(id=membership_id)


@transaction.atomic
def membership_revoke(*, scope: Scope, membership_id: uuid.UUID) -> None:
    """The membership stops giving a scope at its holder's very next request."""
    scope.require(USERS_MANAGE)
    membership = selectors.membership_get(scope=scope, membership_id=membership_id, lock=True)
    events = domain.revoke(
        membership_id=membership.id,
        user_id=membership.user_id,
        facility_id=membership.facility_id,
        active=membership.is_active,
    )
    _publish(scope, StreamRef("membership", membership.id), events)


@transaction.atomic
def role_permissions_set(*, scope: Scope, code: str, permissions: list[str]) -> selectors.RoleView:
    """In this tenant, the role grants exactly `permissions` from now on (its holders' next
    request already sees it)."""
    scope.require(TENANT_CONFIGURE)
    role = selectors.role_get(code=code)
    # The tenant row orders two admins editing grants at once (grants have no row of their own).
    selectors.tenant_lock(tenant_id=scope.tenant_id)
    events = domain.permissions_set(
        role=role.code,
        current=selectors.role_permissions(scope=scope, role=role),
        wanted=permissions,
        known=selectors.permission_codes(),
    )
    _publish(
        scope, StreamRef("role_grants", role_grants_stream_id(scope.tenant_id, role.code)), events
    )
    return next(view for view in selectors.role_list(scope=scope) if view.code == role.code)


@transaction.atomic
def facility_update(
    *, scope: Scope, facility_id: uuid.UUID, name: str | None, time_zone: str | None
) -> Facility:
    """Rename the facility or move it to another IANA time zone (422 for an unknown zone)."""
    scope.require(TENANT_CONFIGURE)
    facility = selectors.facility_get(scope=scope, facility_id=facility_id, lock=True)
    events = domain.facility_update(
        facility_id=facility.id,
        name=facility.name,
        time_zone=facility.time_zone,
        new_name=name,
        new_time_zone=time_zone,
    )
    _publish(scope, StreamRef("facility", facility.id), events)
    facility.refresh_from_db()
    return facility
