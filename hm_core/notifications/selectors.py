"""Notification read use-cases."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.notifications.models import Notification


def notification_get(*, scope: Scope, notification_id: uuid.UUID) -> Notification:
    notification = Notification.objects.for_scope(scope).filter(id=notification_id).first()
    if notification is None:
        raise NotFound(details={"resource": "notification"})
    return notification


def notification_list(
    *, scope: Scope, patient: uuid.UUID | None, status: str | None
) -> QuerySet[Notification]:
    """The facility's notifications, newest first."""
    qs = Notification.objects.for_scope(scope)
    if patient is not None:
        qs = qs.filter(patient_id=patient)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "id")


def notifications_of_appointment(*, scope: Scope, appointment_id: uuid.UUID) -> list[Notification]:
    return list(
        Notification.objects.for_scope(scope)
        .filter(appointment_id=appointment_id)
        .order_by("channel")
    )


def due_notifications(*, before: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Scheduled notifications of every tenant due by `before`, oldest first."""
    # Cross-tenant on purpose: the senders serve every tenant.
    return list(
        Notification.all_tenants.filter(status="SCHEDULED", due_at__lte=before)
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )
