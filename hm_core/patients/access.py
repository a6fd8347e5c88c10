"""Who may read a confidential patient (contract §18): its care team, or break-glass.

A confidential patient is readable by the system (workers, interfaces), by users with an open
encounter (they recorded something on it), an open order (they placed it) or an open task
(assigned to them) for the patient, by users holding an unexpired break-glass grant, and by
the patient's own account (role `patient`, §17: a patient is always on its own care team). Anyone
else gets 404, as for a patient that does not exist: the rule is one `Q` on the patient table,
so a detail, a list, a search and other modules' reads all apply the very same rule.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from hm_core.common.db import CompiledQuery
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.encounters.selectors import encounter_open_patient_ids
from hm_core.orders.selectors import order_patient_ids_open_by
from hm_core.patients.models import BreakGlassGrant, Patient
from hm_core.tasks.selectors import task_patient_ids_assigned_to
from hm_core.timeline.selectors import encounter_ids_acted_on_by


def sees_everyone(scope: Scope) -> bool:
    """The system principal (workers, interfaces, replays) is not limited by the rule."""
    return scope.principal.user_id is None


def care_team_patient_ids(*, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Q:
    """Confidential patients the user is on the care team of, as one `Q` of subqueries.

    PostgreSQL runs each subquery at most once per statement (a hashed SubPlan), and only when
    a confidential patient is among the rows filtered; each reads small partial indexes, so
    its cost follows the tenant's confidential patients and the user's open work, not the
    tenant's size: the confidential patients (patients_confidential), their open encounters
    (encounters_open_by_patient) probed for the user's timeline entries, the user's placed
    orders (orders_placed_by_user) and active tasks (tasks_active_by_assignee). At 1,000,000
    patients and 300,000 encounters a search statement took 350-720 ms before, under 20 ms after
    (docs/performance.md, which also says why searches under RLS still scan the tenant).
    """
    confidential = Patient.objects.filter(tenant_id=tenant_id, confidential=True).values("id")
    acted_on = encounter_ids_acted_on_by(tenant_id=tenant_id, actor_id=user_id)
    return (
        Q(
            id__in=encounter_open_patient_ids(
                tenant_id=tenant_id, patient_ids=confidential, encounter_ids=acted_on
            )
        )
        | Q(id__in=order_patient_ids_open_by(tenant_id=tenant_id, user_id=user_id))
        | Q(id__in=task_patient_ids_assigned_to(tenant_id=tenant_id, user_id=user_id))
    )


def break_glass_patient_ids(
    *, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> QuerySet[Any, Any]:
    grants = BreakGlassGrant.objects.filter(
        tenant_id=tenant_id, user_id=user_id, expires_at__gt=now
    )
    return grants.values("patient_id")


def visible_to(scope: Scope) -> Q:
    """The patients (rows of `Patient`) the scope's user may read."""
    user_id = scope.principal.user_id
    if user_id is None:
        return Q()
    if scope.principal.restricted:  # a patient's own account: itself, confidential or not
        own = scope.principal.patient_id
        return Q(id=own) if own is not None else Q(pk__in=[])
    return Q(confidential=False) | Q(id__in=readable_confidential_ids(scope, user_id))


def readable_confidential_ids(scope: Scope, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The tenant's confidential patients the user may read (care team or break-glass), read
    now, in one query on small partial indexes.

    Why a list and not a subquery of the statement that uses it: inside every statement that
    lists patients or their data, the rule's four subqueries cost more than the statement
    itself — Django builds and compiles them for each, and PostgreSQL spent 6-15 ms planning
    each (a FHIR `Patient?name=` search plans its page and its count). The list is the user's
    own care team among the confidential patients, short, and a statement using it plans as
    a plain `NOT confidential OR id IN (...)`."""
    _, _, rows = _READABLE_CONFIDENTIAL.rows(
        tenant_id=scope.tenant_id, user_id=user_id, now=utcnow()
    )
    return [uuid.UUID(str(pid)) for (pid,) in rows]  # SQLite's driver gives the hex text


def readable_confidential(
    *, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> QuerySet[Any, Any]:
    """The ids `readable_confidential_ids` reads: the care team and break-glass rules."""
    rule = care_team_patient_ids(tenant_id=tenant_id, user_id=user_id) | Q(
        id__in=break_glass_patient_ids(tenant_id=tenant_id, user_id=user_id, now=now)
    )
    confidential = Patient.objects.filter(tenant_id=tenant_id, confidential=True)
    return confidential.filter(rule).values("id")


# Compiled once per process: its SQL changes with none of the values (issue 10: building and
# compiling the rule's subqueries cost more CPU than running them).
_READABLE_CONFIDENTIAL = CompiledQuery(
    Patient,
    readable_confidential,
    tenant_id=Patient._meta.get_field("tenant_id"),
    user_id=BreakGlassGrant._meta.get_field("user_id"),
    now=BreakGlassGrant._meta.get_field("expires_at"),
)


def hidden_from(scope: Scope) -> QuerySet[Any, Any]:
    """Ids of the tenant's patients the user may not read (confidential ones only): a subquery
    other modules exclude (`patient_id__in`) from their lists."""
    qs = Patient.objects.filter(tenant_id=scope.tenant_id, confidential=True)
    if sees_everyone(scope):
        return qs.none().values("id")
    return qs.exclude(visible_to(scope)).values("id")
