"""Interface channels (read model of their events) and the HL7 message log.

The message log is the interface engineer's evidence: every inbound message as received (raw
bytes, kept for replay), the ACK it got, and every outbound message with its attempts. It is an
operational log, not an event stream: the events a message produced carry its id as their
`causation_id`, which ties the clinical record back to the exact bytes that caused it.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from hm_core.common.models import ScopedModel, ScopeLevel


class Channel(ScopedModel):
    """An outside system hm_core talks to; `facility_id` is where its messages land."""

    scope_level: ClassVar[ScopeLevel] = "tenant"

    class Protocol(models.TextChoices):
        HL7V2 = "hl7v2"
        DICOM = "dicom"

    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=100)
    protocol = models.CharField(max_length=8, choices=Protocol.choices)
    sending_application = models.CharField(max_length=180, blank=True)
    sending_facility = models.CharField(max_length=180, blank=True)
    ae_title = models.CharField(max_length=16, blank=True)
    outbound_host = models.CharField(max_length=255, blank=True)
    outbound_port = models.PositiveIntegerField(null=True)
    outbound_events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # MSH-3 + MSH-4 route an MLLP message to one tenant: unique across the deployment.
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility"],
                condition=Q(protocol="hl7v2") & ~Q(sending_application=""),
                name="interop_channel_hl7_sender_unique",
            ),
            models.UniqueConstraint(
                fields=["ae_title"],
                condition=Q(protocol="dicom") & ~Q(ae_title=""),
                name="interop_channel_ae_title_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "created_at"], name="interop_channels_by_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.protocol})"

    @property
    def sends_outbound(self) -> bool:
        return bool(self.outbound_host and self.outbound_port and self.outbound_events)


class Message(models.Model):
    """One HL7 v2 message in or out. Inbound rows of unknown senders have no tenant."""

    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"

    class Status(models.TextChoices):
        ACCEPTED = "ACCEPTED"
        ERROR = "ERROR"
        REJECTED = "REJECTED"
        DUPLICATE = "DUPLICATE"
        PENDING = "PENDING"
        SENT = "SENT"
        DEAD = "DEAD"
        # Outbound, not sent: the patient's data_sharing consent is deny (contract §18).
        WITHHELD = "WITHHELD"

    id = models.UUIDField(primary_key=True)
    tenant_id = models.UUIDField(null=True)
    facility_id = models.UUIDField(null=True)
    channel_id = models.UUIDField(null=True)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    transport = models.CharField(max_length=8)  # mllp | http
    message_type = models.CharField(max_length=40, blank=True)
    control_id = models.CharField(max_length=199, blank=True)
    sending_application = models.CharField(max_length=180, blank=True)
    sending_facility = models.CharField(max_length=180, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=8, blank=True)  # HL7 table 0357
    raw = models.BinaryField()
    ack = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True)
    next_attempt_at = models.DateTimeField(null=True)
    # Outbound: the event that caused the message, and its tenant position (send order).
    source_event_id = models.UUIDField(null=True)
    source_position = models.BigIntegerField(null=True)
    duplicate_of_id = models.UUIDField(null=True)

    class Meta:
        constraints = [
            # The same MSH-10 from the same sender is applied once (contract §11: duplicates).
            models.UniqueConstraint(
                fields=["tenant_id", "sending_application", "sending_facility", "control_id"],
                condition=Q(direction="inbound")
                & ~Q(status="DUPLICATE")
                & ~Q(status="REJECTED")
                & ~Q(control_id=""),
                name="interop_inbound_once",
            ),
            models.UniqueConstraint(
                fields=["channel_id", "source_event_id"],
                condition=Q(direction="outbound"),
                name="interop_outbound_once",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "-received_at"], name="interop_msgs_by_tenant"),
            models.Index(
                fields=["tenant_id", "channel_id", "-received_at"], name="interop_msgs_by_channel"
            ),
            models.Index(
                fields=["tenant_id", "status", "-received_at"], name="interop_msgs_by_status"
            ),
            models.Index(fields=["tenant_id", "control_id"], name="interop_msgs_by_control"),
            models.Index(
                fields=["channel_id", "status", "source_position"], name="interop_outbound_queue"
            ),
            models.Index(fields=["status", "next_attempt_at"], name="interop_outbound_due"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.message_type} {self.control_id} ({self.status})"
