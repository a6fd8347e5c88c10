"""The audit trail: one record per event, and one per read of a patient's data (PHI access)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from hm_core.common.models import ScopedModel, ScopeLevel


class AuditRecord(ScopedModel):
    scope_level: ClassVar[ScopeLevel] = "tenant"  # auditors read the tenant's whole trail

    class Kind(models.TextChoices):
        EVENT = "event", "Event"
        READ = "read", "Read of patient data"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    action = models.CharField(max_length=128, help_text="Event type, or the read (patient.viewed)")
    event_id = models.UUIDField(null=True, unique=True)
    position = models.BigIntegerField(null=True)
    patient_id = models.UUIDField(null=True)
    actor_id = models.UUIDField(null=True)
    actor_username = models.CharField(max_length=150)
    request_id = models.CharField(max_length=128, blank=True, default="")
    ip = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=300, blank=True, default="")
    occurred_at = models.DateTimeField()
    detail = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["tenant_id", "occurred_at"], name="audit_by_time"),
            models.Index(
                fields=["tenant_id", "patient_id", "occurred_at"], name="audit_by_patient"
            ),
            models.Index(fields=["tenant_id", "actor_id", "occurred_at"], name="audit_by_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_username}"
