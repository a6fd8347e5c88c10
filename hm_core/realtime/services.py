"""The socket's use-cases: authenticate its first message, authorise its topics.

Sync functions (the ORM); the consumer runs them off the event loop. PostgreSQL row-level
security: a socket starts with no tenant (`consumers.EventsConsumer`); the user is read with no
tenant (users carry none), the membership inside the tenant the auth message names (as the
API's `ScopeAuth`: it can only find that tenant's rows), and everything after it inside the
socket's tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from ninja_jwt.exceptions import TokenError
from ninja_jwt.tokens import AccessToken

from hm_core.audit.services import audited_read
from hm_core.common import rls
from hm_core.common.errors import HmError
from hm_core.common.scope import RequestContext, Scope, scope_active
from hm_core.encounters.selectors import encounter_get
from hm_core.iam.selectors import principal_of_user
from hm_core.patients.selectors import confidential_readable_ids, patient_readable_get
from hm_core.realtime.errors import (
    CLOSE_BAD_MESSAGE,
    CLOSE_BAD_TOKEN,
    CLOSE_NO_MEMBERSHIP,
    SocketRefused,
)
from hm_core.realtime.visibility import TOPIC_PERMISSIONS, Topic, Viewer, WatchKey


@dataclass(frozen=True)
class Session:
    """Who holds the socket: re-read periodically, so that a revocation closes it."""

    user_id: uuid.UUID
    viewer: Viewer
    context: RequestContext

    @property
    def scope(self) -> Scope:
        return Scope(
            tenant_id=self.viewer.tenant_id,
            facility_id=self.viewer.facility_id,
            principal=self.viewer.principal,
            context=self.context,
        )


def socket_authenticate(message: Any, *, context: RequestContext) -> Session:
    """`{"type": "auth", "token", "tenant_id", "facility_id"}` → the session, or refused with
    4400 (not an auth message), 4401 (bad token, inactive user), 4403 (no membership)."""
    if not isinstance(message, dict) or message.get("type") != "auth":
        raise SocketRefused(CLOSE_BAD_MESSAGE)
    try:
        user_id = uuid.UUID(str(AccessToken(str(message.get("token") or ""))["user_id"]))
    except (TokenError, KeyError, ValueError):
        raise SocketRefused(CLOSE_BAD_TOKEN) from None
    try:
        tenant_id = uuid.UUID(str(message.get("tenant_id")))
        facility_id = uuid.UUID(str(message.get("facility_id")))
    except ValueError:
        raise SocketRefused(CLOSE_BAD_MESSAGE) from None
    if not get_user_model().objects.filter(id=user_id, is_active=True).exists():
        raise SocketRefused(CLOSE_BAD_TOKEN)  # as the REST API answers 401
    viewer = viewer_reload(user_id=user_id, tenant_id=tenant_id, facility_id=facility_id)
    if viewer is None:
        raise SocketRefused(CLOSE_NO_MEMBERSHIP)
    return Session(user_id=user_id, viewer=viewer, context=context)


def viewer_reload(
    *, user_id: uuid.UUID, tenant_id: uuid.UUID, facility_id: uuid.UUID
) -> Viewer | None:
    """The user's current principal in the facility; None once the membership (or the user,
    or the facility) is no longer active. Read inside that tenant."""
    with rls.tenant(tenant_id):
        principal = principal_of_user(user_id=user_id, tenant_id=tenant_id, facility_id=facility_id)
    if principal is None:
        return None
    return Viewer(tenant_id=tenant_id, facility_id=facility_id, principal=principal)


def viewers_reload(keys: list[WatchKey]) -> dict[WatchKey, Viewer | None]:
    """`viewer_reload` of each distinct (user, tenant, facility), once: the process re-checks
    the memberships of all its sockets with as many reads as it has distinct viewers."""
    return {
        key: viewer_reload(
            user_id=key.user_id, tenant_id=key.tenant_id, facility_id=key.facility_id
        )
        for key in dict.fromkeys(keys)
    }


def topics_authorize(*, session: Session, topics: list[Topic]) -> None:
    """Refuse a topic the user may not read over REST: the permission, and for an encounter
    or a patient its existence in this scope (404 like a missing one); those reads are
    audited as the timelines' are."""
    scope = session.scope
    for topic in topics:
        if topic.kind in ("tasks", "alerts") or topic.id is None:
            scope.require(topic.permission)
        elif topic.kind == "encounter":
            _encounter_authorize(scope, encounter_id=topic.id)
        else:
            _patient_authorize(scope, patient_id=topic.id)


def _encounter_authorize(scope: Scope, *, encounter_id: uuid.UUID) -> None:
    audited_read(
        scope=scope,
        permission=TOPIC_PERMISSIONS["encounter"],
        action="encounter.events_subscribed",
        load=lambda: encounter_get(scope=scope, encounter_id=encounter_id),
        patient_of=lambda encounter: encounter.patient_id,
        detail=lambda encounter: {"encounter_id": str(encounter.id)},
    )


def _patient_authorize(scope: Scope, *, patient_id: uuid.UUID) -> None:
    audited_read(
        scope=scope,
        permission=TOPIC_PERMISSIONS["patient"],
        action="patient.events_subscribed",
        load=lambda: patient_readable_get(scope=scope, patient_id=patient_id),
        patient_of=lambda patient: patient.id,
    )


def patients_hidden(*, session: Session, patient_ids: set[uuid.UUID]) -> frozenset[uuid.UUID]:
    """Which of these (confidential) patients the socket's user may not read: not on the care
    team, no break-glass grant (contract §18). One query, whatever the number."""
    return _hidden_from(session.scope, patient_ids)


def patients_hidden_by_viewer(
    wanted: dict[Viewer, set[uuid.UUID]],
) -> dict[Viewer, frozenset[uuid.UUID]]:
    """`patients_hidden` for each viewer of a batch the feed fans out: one query per distinct
    viewer that a confidential event of the batch would reach, whatever its number of sockets."""
    return {viewer: _hidden_from(viewer.scope, ids) for viewer, ids in wanted.items()}


def _hidden_from(scope: Scope, patient_ids: set[uuid.UUID]) -> frozenset[uuid.UUID]:
    if not patient_ids:
        return frozenset()
    with scope_active(scope):
        return frozenset(
            patient_ids - confidential_readable_ids(scope=scope, patient_ids=patient_ids)
        )


def error_message(error: HmError, **extra: Any) -> dict[str, Any]:
    """An `{"type": "error"}` message in the contract's error shape."""
    return {"type": "error", **error.body(), **extra}
