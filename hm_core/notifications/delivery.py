"""Sending one due reminder: claim, send through the channel's backend, record the outcome.

No transaction or row lock is held across the send (an SMTP server or an SMS gateway may take
seconds): the claim takes a lease, the outcome is recorded as an event against the version the
claim saw, so a reminder moved or withdrawn during the send keeps its new state.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from hm_core.common.errors import HmError
from hm_core.common.scope import Principal, RequestContext, Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.iam.selectors import facility_time_zone
from hm_core.notifications import domain
from hm_core.notifications.models import Notification, NotificationLease
from hm_core.notifications.services import notification_record_attempt
from hm_core.notifications.sms import SmsMessage, get_backend
from hm_core.patients.selectors import patient_get

logger = logging.getLogger(__name__)
SUBJECT = "Appointment reminder"


def deliver(notification_id: uuid.UUID) -> str | None:
    """Attempt one due reminder; its new status, or None when not due or another sender has it."""
    claimed = _claim(notification_id)
    if claimed is None:
        return None
    scope = Scope(
        tenant_id=claimed.tenant_id,
        facility_id=claimed.facility_id,
        principal=Principal.system("notifications"),
        context=RequestContext(),
    )
    error = _send(scope, claimed)
    try:
        recorded = notification_record_attempt(
            scope=scope, notification_id=claimed.id, expected_version=claimed.version, error=error
        )
    except HmError:  # moved or withdrawn during the send: its new state stands
        logger.info("notification %s changed during its send; outcome dropped", claimed.id)
        return None
    finally:
        NotificationLease.objects.filter(notification_id=claimed.id).delete()
    return str(recorded.status)


def _claim(notification_id: uuid.UUID) -> Notification | None:
    now = utcnow()
    with transaction.atomic():
        # Cross-tenant on purpose: a sender serves every tenant.
        notification = (
            Notification.all_tenants.select_for_update(skip_locked=True)
            .filter(id=notification_id, status=domain.SCHEDULED, due_at__lte=now)
            .first()
        )
        if notification is None:
            return None
        held = NotificationLease.objects.filter(notification_id=notification_id, until__gt=now)
        if held.exists():
            return None
        lease = timedelta(seconds=settings.HM_NOTIFICATION_LEASE_SECONDS)
        NotificationLease.objects.update_or_create(
            notification_id=notification_id, defaults={"until": now + lease}
        )
        return notification


def _send(scope: Scope, notification: Notification) -> str | None:
    """None when the backend accepted the message, else the failure's kind (never its text,
    which may quote the address)."""
    try:
        with scope_active(scope):
            patient = patient_get(scope=scope, patient_id=notification.patient_id)
        body = message_text(scope, notification)
        if notification.channel == domain.EMAIL:
            if not patient.email:
                return "no_address"
            send_mail(SUBJECT, body, None, [patient.email], fail_silently=False)
        else:
            if not patient.phone:
                return "no_address"
            get_backend().send(SmsMessage(to=patient.phone, body=body))
    except Exception as exc:
        logger.warning("notification %s: send failed (%s)", notification.id, type(exc).__name__)
        return type(exc).__name__
    return None


def message_text(scope: Scope, notification: Notification) -> str:
    """The reminder, in the facility's local time; no reason or diagnosis (it may be read by
    anyone holding the phone)."""
    zone = facility_time_zone(tenant_id=scope.tenant_id, facility_id=scope.facility_id)
    local = notification.appointment_start.astimezone(ZoneInfo(zone))
    return (
        f"Reminder: you have an appointment on {local:%A %d %B %Y at %H:%M} ({zone}). "
        "Please contact us if you cannot attend."
    )
