"""Sending one delivery: signed JSON POST, attempts recorded, exponential backoff, dead letter."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction

from hm_core.common.errors import ValidationFailed
from hm_core.common.time import isoformat, utcnow
from hm_core.events.base import revealed_payload
from hm_core.events.broker import send, uses_workers
from hm_core.events.models import Event
from hm_core.webhooks.models import WebhookAttempt, WebhookDelivery
from hm_core.webhooks.security import SIGNATURE_HEADER, check_url, post_pinned, sign

logger = logging.getLogger(__name__)
# The actor (hm_core.webhooks.actors, which imports this module) that runs `deliver`: messages
# name it, so this module never imports its actors.
QUEUE, DELIVER_WEBHOOK = "hm_webhooks", "deliver_webhook"


def event_document(event: Event) -> dict[str, Any]:
    """The JSON an integrator receives for one event (the envelope and the payload, with the
    fields encrypted at rest in plaintext: the tenant registered this receiver for its data,
    and only over https outside development)."""
    return {
        "id": str(event.id),
        "type": event.type,
        "schema_version": event.schema_version,
        "tenant_id": str(event.tenant_id),
        "facility_id": str(event.facility_id),
        "stream": {"type": event.stream_type, "id": str(event.stream_id)},
        "stream_version": event.stream_version,
        "position": event.position,
        "occurred_at": isoformat(event.occurred_at),
        "recorded_at": isoformat(event.recorded_at),
        "actor": {
            "id": str(event.actor_id) if event.actor_id else None,
            "username": event.actor_username,
        },
        "request_id": event.request_id or None,
        "correlation_id": str(event.correlation_id) if event.correlation_id else None,
        "causation_id": str(event.causation_id) if event.causation_id else None,
        "payload": revealed_payload(event.type, event.payload),
    }


def deliver(delivery_id: uuid.UUID) -> str | None:
    """Attempt one due delivery; returns its new status, or None when not due or taken.

    Claim, commit, send, record: no transaction or row lock is held across the HTTP call, which
    can last the whole timeout (a lock held that long blocks the reconciler, the admin and the
    endpoint's other deliveries, and pins a database connection per slow receiver).
    """
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    code, error, millis = _post(delivery)
    return _record(delivery, code, error, millis)


def _claim(delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """Take a due delivery for one attempt: its next attempt moves a lease ahead, so no other
    sender takes it meanwhile, and it falls due again if this sender dies before recording."""
    with transaction.atomic():
        # Lock the delivery row only (`of`): locking the joined endpoint too would make every
        # other delivery to it skip (and be dropped) while this one is being claimed.
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint__credential")
            .filter(
                id=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=utcnow()
            )
            .first()
        )
        if delivery is None:
            return None
        delivery.next_attempt_at = utcnow() + timedelta(seconds=settings.HM_WEBHOOK_LEASE_SECONDS)
        delivery.save(update_fields=["next_attempt_at"])
        return delivery


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    body = json.dumps(
        {
            "delivery_id": str(delivery.id),
            "event": event_document(Event.objects.get(id=delivery.event_id)),
        },
        separators=(",", ":"),
    ).encode()
    started = time.monotonic()
    try:
        address = check_url(delivery.endpoint.url)  # again at send time: DNS may have changed
        code = post_pinned(
            delivery.endpoint.url,
            address=address,
            body=body,
            headers=_headers(delivery, body),
            timeout=settings.HM_WEBHOOK_TIMEOUT_SECONDS,
        )
    except (OSError, http.client.HTTPException, ValidationFailed) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], _ms(started)
    if 300 <= code < 400:
        return code, f"HTTP {code}: redirects are not followed", _ms(started)
    return code, "" if 200 <= code < 300 else f"HTTP {code}", _ms(started)


def _headers(delivery: WebhookDelivery, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "hm_core-webhooks/1",
        "X-HM-Delivery": str(delivery.id),
        "X-HM-Event-Type": delivery.event_type,
        SIGNATURE_HEADER: sign(delivery.endpoint.credential.secret, int(time.time()), body),
    }


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record(claimed: WebhookDelivery, code: int | None, error: str, millis: int) -> str | None:
    """Log the attempt; 2xx delivers, anything else backs off, the last attempt dead-letters.

    Only while the claim holds: a lease that ran out may have let another sender take over."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(
                id=claimed.id,
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at=claimed.next_attempt_at,
            )
            .first()
        )
        if delivery is None:
            logger.warning("delivery %s: lease lost during the attempt, not recorded", claimed.id)
            return None
        _apply_attempt(delivery, code, error, millis)
        return str(delivery.status)


def _apply_attempt(delivery: WebhookDelivery, code: int | None, error: str, millis: int) -> None:
    now = utcnow()
    delivery.attempts += 1
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        at=now,
        status_code=code,
        error=error,
        duration_ms=millis,
    )
    delivery.last_status_code, delivery.last_error = code, error
    if code is not None and 200 <= code < 300:
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
    elif delivery.attempts >= settings.HM_WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.DEAD
    else:
        backoff = settings.HM_WEBHOOK_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = now + timedelta(seconds=backoff)
    delivery.save()


def deliver_soon(delivery_ids: list[uuid.UUID]) -> None:
    """Hand deliveries to the workers, or (embedded mode) to a background thread."""
    if not delivery_ids:
        return
    if uses_workers():
        for delivery_id in delivery_ids:
            try:
                send(QUEUE, DELIVER_WEBHOOK, str(delivery_id))
            except Exception:  # the reconciler re-sends due deliveries
                logger.warning(
                    "broker unreachable; delivery %s left to the reconciler", delivery_id
                )
        return
    threading.Thread(target=_deliver_in_thread, args=(delivery_ids,), daemon=True).start()


def _deliver_in_thread(delivery_ids: list[uuid.UUID]) -> None:
    try:
        for delivery_id in delivery_ids:
            deliver(delivery_id)
    finally:
        close_old_connections()
