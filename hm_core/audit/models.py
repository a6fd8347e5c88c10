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


class AuditTrailLink(models.Model):
    """One audit record sealed into its tenant's audit-trail chain (`hm_core.audit.trail`).

    Append-only like events (trigger, and no UPDATE/DELETE/TRUNCATE grant to `DB_APP_ROLE`).
    The record is referenced without a foreign key so that a record deleted behind the
    database's back shows up as a link to nothing rather than being refused."""

    tenant_id = models.UUIDField()
    seq = models.BigIntegerField(help_text="Tenant-wide, gapless, starting at 1.")
    record = models.ForeignKey(
        AuditRecord, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "seq"], name="audit_trail_seq_uniq"),
            models.UniqueConstraint(fields=["record"], name="audit_trail_record_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.seq}"


class AuditTrailHead(models.Model):
    """Last sealed link of a tenant's audit trail; locking its row serialises the sealers."""

    tenant_id = models.UUIDField(primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    sealed_through = models.DateTimeField(
        null=True, help_text="Latest occurred_at sealed: where the next pass starts looking."
    )

    def __str__(self) -> str:
        return f"{self.tenant_id}@{self.seq}"
