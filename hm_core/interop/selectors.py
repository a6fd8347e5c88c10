"""Interop read use-cases: channels and the message log of the caller's tenant."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope, unscoped
from hm_core.common.time import utcnow
from hm_core.events.models import Event
from hm_core.interop.models import Channel, Message


def channel_get(*, scope: Scope, channel_id: uuid.UUID) -> Channel:
    channel = Channel.objects.for_scope(scope).filter(id=channel_id).first()
    if channel is None:
        raise NotFound(details={"resource": "channel"})
    return channel


def channel_list(*, scope: Scope) -> QuerySet[Channel]:
    return Channel.objects.for_scope(scope).order_by("created_at", "id")


def channel_sender_taken(
    *, sending_application: str, sending_facility: str, exclude: uuid.UUID | None = None
) -> bool:
    """Across the deployment (contract §11): MSH-3 + MSH-4 route to exactly one tenant."""
    qs = Channel.all_tenants.filter(
        protocol=Channel.Protocol.HL7V2,
        sending_application=sending_application,
        sending_facility=sending_facility,
    )
    return qs.exclude(id=exclude).exists() if exclude else qs.exists()


def channel_ae_title_taken(*, ae_title: str, exclude: uuid.UUID | None = None) -> bool:
    qs = Channel.all_tenants.filter(protocol=Channel.Protocol.DICOM, ae_title=ae_title)
    return qs.exclude(id=exclude).exists() if exclude else qs.exists()


def dicom_channel_for_ae_title(ae_title: str) -> Channel | None:
    """The active dicom channel a calling AE title names (§13): it decides the tenant."""
    with unscoped("DICOM routing: the calling AE title's channel decides the tenant"):
        return Channel.all_tenants.filter(
            protocol=Channel.Protocol.DICOM, ae_title=ae_title, is_active=True
        ).first()


def dicom_channel_ae_titles() -> list[str]:
    """Every active dicom channel's AE title, across tenants: who may associate."""
    with unscoped("DICOM routing: the SCP accepts any tenant's channel"):
        rows = Channel.all_tenants.filter(protocol=Channel.Protocol.DICOM, is_active=True)
        return [title for title in rows.values_list("ae_title", flat=True) if title]


def message_get(*, scope: Scope, message_id: uuid.UUID) -> Message:
    """The tenant's message, or 404 (also for another tenant's, and unrouted rejections)."""
    message = Message.objects.filter(tenant_id=scope.tenant_id, id=message_id).first()
    if message is None:
        raise NotFound(details={"resource": "message"})
    return message


def message_list(
    *,
    scope: Scope,
    channel: uuid.UUID | None = None,
    direction: str | None = None,
    status: str | None = None,
    control_id: str | None = None,
    received_before: datetime | None = None,
) -> QuerySet[Message]:
    """The tenant's messages, newest first; `raw` and `ack` are left out (PHI, and large)."""
    qs = Message.objects.filter(tenant_id=scope.tenant_id).defer("raw", "ack")
    if channel is not None:
        qs = qs.filter(channel_id=channel)
    if direction:
        qs = qs.filter(direction=direction)
    if status:
        qs = qs.filter(status=status)
    if control_id:
        qs = qs.filter(control_id=control_id)
    if received_before is not None:
        qs = qs.filter(received_at__lt=received_before)
    return qs.order_by("-received_at", "-id")


def patients_of_message(*, scope: Scope, message: Message) -> list[uuid.UUID]:
    """The patients whose records a message changed (its events' `patient_id`), for the audit."""
    payloads = Event.objects.filter(tenant_id=scope.tenant_id, causation_id=message.id).values_list(
        "payload", flat=True
    )
    found = {p.get("patient_id") for p in payloads if isinstance(p, dict) and p.get("patient_id")}
    return sorted(uuid.UUID(str(pid)) for pid in found)


def outbound_backlog() -> dict[str, int]:
    """Outbound HL7 messages still to send, over every tenant (for /api/health/): `pending`,
    `overdue` (due for over a minute: nobody is sending, or a receiver is down) and `dead`."""
    # Cross-tenant on purpose: an operator's view of the outbox, counts only.
    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    pending = outbound.filter(status=Message.Status.PENDING)
    return {
        "pending": pending.count(),
        "overdue": pending.filter(next_attempt_at__lt=utcnow() - timedelta(minutes=1)).count(),
        "dead": outbound.filter(status=Message.Status.DEAD).count(),
    }
