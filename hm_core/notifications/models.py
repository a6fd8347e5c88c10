"""Notification read model (built by `projections.py`) and the senders' leases.

`NotificationLease` is operational state, not a read model: a sender holds one while it sends,
so that the worker handed the message and the reconciler never both send one reminder.
"""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel


class Notification(ScopedModel):
    """A reminder to a patient on one channel; `version` is its stream version."""

    id = models.UUIDField(primary_key=True)
    patient_id = models.UUIDField()
    appointment_id = models.UUIDField()
    channel = models.CharField(max_length=8)
    kind = models.CharField(max_length=32)
    status = models.CharField(max_length=10)
    due_at = models.DateTimeField()
    appointment_start = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The senders' query, across tenants: what is due now.
            models.Index(fields=["status", "due_at"], name="notifications_due"),
            models.Index(
                fields=["tenant_id", "facility_id", "created_at"], name="notifications_by_time"
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "patient_id", "created_at"],
                name="notifications_by_patient",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "status", "created_at"],
                name="notifications_by_status",
            ),
            models.Index(
                fields=["tenant_id", "appointment_id"], name="notifications_by_appointment"
            ),
        ]

    def __str__(self) -> str:
        return f"notification {self.id} ({self.status})"


class NotificationLease(models.Model):
    notification_id = models.UUIDField(primary_key=True)
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"lease of {self.notification_id} until {self.until}"
