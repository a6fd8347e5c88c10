"""The append-only event table and the per-tenant head that serialises appends.

Immutability holds at three depths: `Event.save()` refuses existing rows and `delete()` refuses
always; the queryset refuses `update()`/`delete()`; a database trigger (migration 0002) rejects
UPDATE and DELETE on both engines, so not even raw SQL by the application's role changes an event.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models


class ImmutableEventError(RuntimeError):
    """An attempt to change or remove a stored event."""


class EventQuerySet(models.QuerySet["Event"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableEventError("events are immutable: update() refused")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise ImmutableEventError("events are immutable: delete() refused")


class Event(models.Model):
    """One immutable fact, scoped to a tenant and facility, hash-chained per tenant."""

    id = models.UUIDField(primary_key=True)
    tenant_id = models.UUIDField()
    facility_id = models.UUIDField()
    stream_type = models.CharField(max_length=64)
    stream_id = models.UUIDField()
    stream_version = models.PositiveIntegerField()
    position = models.BigIntegerField(help_text="Tenant-wide, gapless, starting at 1.")
    type = models.CharField(max_length=128)
    schema_version = models.PositiveSmallIntegerField()
    payload = models.JSONField()
    metadata = models.JSONField(default=dict, help_text="ip, user agent, idempotency key")
    actor_id = models.UUIDField(null=True)
    actor_username = models.CharField(max_length=150)
    request_id = models.CharField(max_length=128, blank=True, default="")
    correlation_id = models.UUIDField(null=True)
    causation_id = models.UUIDField(null=True)
    occurred_at = models.DateTimeField(help_text="Clinical time: when it happened.")
    recorded_at = models.DateTimeField(help_text="Server time: when it was stored.")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = EventQuerySet.as_manager()

    class Meta:
        db_table = "events_event"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "position"], name="events_tenant_position_uniq"
            ),
            models.UniqueConstraint(
                fields=["tenant_id", "stream_id", "stream_version"],
                name="events_stream_version_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "type", "position"], name="events_tenant_type_pos"),
            # What one message (or one event) caused: the HL7 log's audited reads, provenance.
            models.Index(
                fields=["tenant_id", "causation_id"],
                name="events_by_causation",
                condition=models.Q(causation_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type}@{self.position}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableEventError("events are immutable: save() on a stored event refused")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableEventError("events are immutable: delete() refused")


class TenantEventHead(models.Model):
    """Last position and hash of a tenant's chain; locking its row is the tenant's append lock."""

    tenant_id = models.UUIDField(primary_key=True)
    position = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "events_tenant_head"

    def __str__(self) -> str:
        return f"{self.tenant_id}@{self.position}"


class SubscriptionCheckpoint(models.Model):
    """How far one async subscription has processed one tenant's events.

    Advanced in the same transaction as the subscriber's effects, so a crash either keeps both
    or neither: delivery is at least once, the effect exactly once.
    """

    name = models.CharField(max_length=64)
    tenant_id = models.UUIDField()
    position = models.BigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "events_subscription_checkpoint"
        constraints = [
            models.UniqueConstraint(fields=["name", "tenant_id"], name="events_checkpoint_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.tenant_id}:{self.position}"
