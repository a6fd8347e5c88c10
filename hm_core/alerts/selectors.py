"""Alert read use-cases."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from hm_core.alerts import domain
from hm_core.alerts.models import Alert
from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope


def alert_get(*, scope: Scope, alert_id: uuid.UUID) -> Alert:
    alert = Alert.objects.for_scope(scope).filter(id=alert_id).first()
    if alert is None:
        raise NotFound(details={"resource": "alert"})
    return alert


def alert_list(
    *, scope: Scope, status: str | None, encounter: uuid.UUID | None, patient: uuid.UUID | None
) -> QuerySet[Alert]:
    """The facility's alerts, newest first."""
    qs = Alert.objects.for_scope(scope)
    if status:
        qs = qs.filter(status=status)
    if encounter:
        qs = qs.filter(encounter_id=encounter)
    if patient:
        qs = qs.filter(patient_id=patient)
    return qs.order_by("-raised_at", "id")


def open_critical_alert_count(*, scope: Scope, encounter_id: uuid.UUID) -> int:
    """Unacknowledged critical alerts of an encounter: they block its close."""
    return (
        Alert.objects.for_scope(scope)
        .filter(encounter_id=encounter_id, status=domain.OPEN, severity=domain.CRITICAL)
        .count()
    )
