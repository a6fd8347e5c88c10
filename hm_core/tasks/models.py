"""The task read model: work queues per facility."""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel
from hm_core.tasks.domain import ACTIVE


class Task(ScopedModel):
    id = models.UUIDField(primary_key=True)
    encounter_id = models.UUIDField(null=True)
    patient_id = models.UUIDField(null=True)
    subject_id = models.UUIDField(null=True)
    kind = models.CharField(max_length=64)
    queue = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=16)
    assignee_id = models.UUIDField(null=True)
    assignee_username = models.CharField(max_length=150, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "queue", "status", "created_at"],
                name="tasks_by_queue",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "assignee_id", "status"],
                name="tasks_by_assignee",
            ),
            models.Index(fields=["tenant_id", "encounter_id", "status"], name="tasks_by_encounter"),
            models.Index(fields=["tenant_id", "subject_id", "status"], name="tasks_by_subject"),
            # A user's active tasks in any facility (the confidential-patient care-team rule,
            # contract §18): active rows only, a small index, read without the table.
            models.Index(
                fields=["tenant_id", "assignee_id", "patient_id"],
                condition=models.Q(status__in=ACTIVE),
                name="tasks_active_by_assignee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.status}"
