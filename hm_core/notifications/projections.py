"""Notification read-model projections: replayable, keyed on the notification id."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.notifications import domain
from hm_core.notifications.events import (
    NotificationCancelled,
    NotificationFailed,
    NotificationScheduled,
    NotificationSent,
)
from hm_core.notifications.models import Notification

rebuildable("notifications", Notification)


@subscribe(NotificationScheduled)
def notification_apply_scheduled(event: NotificationScheduled, meta: EventMeta) -> None:
    """First scheduled, or moved (a later version): due again, nothing tried yet."""
    due = {
        "status": domain.SCHEDULED,
        "due_at": event.due_at,
        "appointment_start": event.appointment_start,
        "attempts": 0,
        "last_error": "",
        "sent_at": None,
    }
    if meta.stream_version > 1:
        _touch(meta, **due)
        return
    upsert(
        Notification,
        id=event.notification_id,
        defaults={
            **due,
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "patient_id": event.patient_id,
            "appointment_id": event.appointment_id,
            "channel": event.channel,
            "kind": event.kind,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(NotificationSent)
def notification_apply_sent(event: NotificationSent, meta: EventMeta) -> None:
    _touch(meta, status=domain.SENT, attempts=event.attempt, sent_at=meta.occurred_at)


@subscribe(NotificationFailed)
def notification_apply_failed(event: NotificationFailed, meta: EventMeta) -> None:
    fields: dict[str, object] = {"attempts": event.attempt, "last_error": event.error}
    if event.final:
        fields["status"] = domain.FAILED
    else:
        fields["due_at"] = event.next_attempt_at
    _touch(meta, **fields)


@subscribe(NotificationCancelled)
def notification_apply_cancelled(event: NotificationCancelled, meta: EventMeta) -> None:
    _touch(meta, status=domain.CANCELLED)


def _touch(meta: EventMeta, **fields: object) -> None:
    update(
        Notification.all_tenants.filter(id=meta.stream.id, tenant_id=meta.tenant_id),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
