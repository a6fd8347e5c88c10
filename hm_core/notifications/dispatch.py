"""Handing due reminders to a sender: the workers (a dramatiq message each), or in the
embedded mode a background thread of this process. Either may be lost (a broker down, a process
killed); the reconciler's resender sends whatever stays due (`reconciler.py`)."""

from __future__ import annotations

import logging
import threading
import uuid

from django.db import close_old_connections

from hm_core.events.broker import send, uses_workers

logger = logging.getLogger(__name__)
# The actor (hm_core.notifications.actors) that runs `delivery.deliver`, named in messages.
QUEUE, SEND_NOTIFICATION = "hm_notifications", "send_notification"


def send_soon(notification_ids: list[uuid.UUID]) -> None:
    if not notification_ids:
        return
    if uses_workers():
        for notification_id in notification_ids:
            try:
                send(QUEUE, SEND_NOTIFICATION, str(notification_id))
            except Exception:  # the reconciler sends what stays due
                logger.warning(
                    "broker unreachable; notification %s left to the reconciler", notification_id
                )
        return
    threading.Thread(target=_send_in_thread, args=(notification_ids,), daemon=True).start()


def _send_in_thread(notification_ids: list[uuid.UUID]) -> None:
    from hm_core.notifications.delivery import deliver

    try:
        for notification_id in notification_ids:
            deliver(notification_id)
    except Exception:
        logger.exception("notifications: in-process send failed; the reconciler retries")
    finally:
        close_old_connections()
