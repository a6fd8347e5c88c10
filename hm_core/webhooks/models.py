"""Webhook endpoints a tenant registered, and every delivery with its attempts.

Endpoints are the read model of the tenant's `webhook.endpoint_*` events (who receives which
events is on the chain for the auditor); their signing secrets are credentials, not facts, so
they live in `WebhookSecret` beside them, never in an event, and survive a rebuild. Deliveries
are an outbox written by the `webhooks` async subscription, one row per (endpoint, event): the
row's id is the delivery id the receiver sees, so a receiver can drop duplicates of an
at-least-once delivery. Neither points at the endpoint with a database constraint: a rebuild
deletes and refolds the endpoints, and must not cascade into secrets or delivery history.
"""

from __future__ import annotations

import uuid

from django.db import models


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant_id = models.UUIDField()
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text='[] for all, or ["lab.*", ...]')
    is_active = models.BooleanField(default=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["tenant_id", "is_active"], name="webhooks_by_tenant")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        """An empty filter takes everything but webhook configuration (other receivers' URLs
        are not a receiver's business); `lab.*` takes a whole module."""
        if event_type.startswith("webhook."):
            return False
        if not self.event_types:
            return True
        module = event_type.split(".", 1)[0]
        return event_type in self.event_types or f"{module}.*" in self.event_types


class WebhookSecret(models.Model):
    """An endpoint's signing secret: written by the register and change services only."""

    endpoint = models.OneToOneField(
        WebhookEndpoint,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="credential",
    )
    tenant_id = models.UUIDField()
    secret = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"secret of {self.endpoint_id}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        DELIVERED = "DELIVERED"
        DEAD = "DEAD"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant_id = models.UUIDField()
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="deliveries",
    )
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=128)
    position = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due"),
            models.Index(
                fields=["tenant_id", "endpoint", "status", "position"], name="webhook_by_endpoint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery, kept for the integrator's troubleshooting."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_uniq")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
