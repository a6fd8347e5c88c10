"""Keep async work flowing whatever the broker or a dead process lost: drain lagging
subscriptions, resend due webhook deliveries.

With workers (`REDIS_URL`), `manage.py run_reconciler` runs `reconcile()` beside them
(`make worker`). In the embedded mode there is no worker: each server process runs it in a
daemon thread (`start_embedded_reconciler`, called by the WSGI entry point that runserver and
gunicorn load), so that deliveries a dead process left `PENDING`, and failed ones whose retry
is due, go out without anyone running `make worker`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections

from hm_core.common.time import utcnow
from hm_core.events import actors
from hm_core.events.broker import uses_workers
from hm_core.events.subscriptions import drain, lagging
from hm_core.webhooks.delivery import deliver, deliver_soon
from hm_core.webhooks.models import WebhookDelivery

logger = logging.getLogger(__name__)

# In the embedded mode a fresh delivery is sent by the committing request's own thread; the
# reconciler leaves it that long before it counts it as stranded.
EMBEDDED_GRACE = timedelta(seconds=30)

_thread: threading.Thread | None = None
_lock = threading.Lock()
_stop = threading.Event()


def reconcile(*, grace: timedelta = timedelta(0)) -> tuple[int, int]:
    """One pass: (tenants woken or drained, deliveries resent). Idempotent."""
    tenants = sorted({tenant_id for _, tenant_id in lagging()})
    for tenant_id in tenants:
        if uses_workers():
            actors.drain_tenant.send(str(tenant_id))
        else:
            drain(tenant_id)
    due = due_deliveries(before=utcnow() - grace)
    if uses_workers():
        deliver_soon(due)
    else:  # here and now: a thread per batch would die with a `--once` command or the process
        for delivery_id in due:
            deliver(delivery_id)
    return len(tenants), len(due)


def due_deliveries(*, before: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Pending deliveries whose next attempt was due by `before` (default: now)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=before or utcnow()
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def start_embedded_reconciler() -> bool:
    """Start this process's reconciler thread, once, in the embedded mode only (no broker,
    `HM_EMBEDDED_RECONCILER` on). Returns whether it started one."""
    global _thread
    if uses_workers() or not settings.HM_EMBEDDED_RECONCILER:
        return False
    with _lock:
        if _thread is not None and _thread.is_alive():
            return False
        _stop.clear()
        _thread = threading.Thread(target=_run, name="hm-reconciler", daemon=True)
        _thread.start()
    return True


def stop_embedded_reconciler(timeout: float = 10) -> None:
    """Stop the thread after its current pass (tests; the process exiting stops it anyway)."""
    _stop.set()
    if _thread is not None:
        _thread.join(timeout)


def embedded_reconciler_running() -> bool:
    return _thread is not None and _thread.is_alive()


def _run() -> None:
    interval = settings.HM_EMBEDDED_RECONCILER_SECONDS
    while not _stop.is_set():
        try:
            woken, resent = reconcile(grace=EMBEDDED_GRACE)
            if woken or resent:
                logger.info(
                    "reconciler: %s tenant(s) drained, %s delivery(ies) resent", woken, resent
                )
        except Exception:  # the database is away: try again next pass
            logger.exception("reconciler: pass failed")
        finally:
            close_old_connections()
        _stop.wait(interval)
