"""The alert read model."""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel


class Alert(ScopedModel):
    id = models.UUIDField(primary_key=True)
    encounter_id = models.UUIDField(null=True)
    patient_id = models.UUIDField(null=True)
    kind = models.CharField(max_length=32)
    severity = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    message = models.CharField(max_length=500)
    source_type = models.CharField(max_length=32, blank=True, default="")
    source_id = models.UUIDField(null=True)
    source_version = models.PositiveIntegerField(null=True)
    assignee_id = models.UUIDField(null=True)
    assignee = models.CharField(max_length=150, blank=True, default="")
    findings = models.JSONField(default=list)  # [{code, value, unit, flag}], see AlertFinding
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True)
    acknowledged_by_id = models.UUIDField(null=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledge_note = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "status", "raised_at"], name="alerts_by_status"
            ),
            models.Index(
                fields=["tenant_id", "encounter_id", "status", "severity"],
                name="alerts_by_encounter",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.status}"
