"""Timeline read model: one row per event that concerns a patient or an encounter.

Indexed by (tenant, patient, position) and (tenant, encounter, position): a page is one index
range scan from the cursor, so it costs the same with ten events or a hundred thousand.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from hm_core.common.models import ScopedModel, ScopeLevel


class TimelineEntry(ScopedModel):
    scope_level: ClassVar[ScopeLevel] = "tenant"  # selectors add the facility rule themselves

    event_id = models.UUIDField(primary_key=True)
    position = models.BigIntegerField()
    patient_id = models.UUIDField(null=True)
    encounter_id = models.UUIDField(null=True)
    # Patient-level facts (demographics) show at every facility; clinical ones only at their own.
    tenant_wide = models.BooleanField(default=False)
    event_type = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    actor_id = models.UUIDField(null=True)
    actor_username = models.CharField(max_length=150)
    stream_type = models.CharField(max_length=64)
    stream_id = models.UUIDField()
    summary = models.CharField(max_length=500)
    data = models.JSONField()

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "patient_id", "position"], name="timeline_by_patient"
            ),
            models.Index(
                fields=["tenant_id", "encounter_id", "position"], name="timeline_by_encounter"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type}@{self.position}"
