"""Keep async work flowing whatever the broker or a dead process lost: drain lagging
subscriptions, and let each module resend its own due outbound work (webhook deliveries, HL7
messages) through the resenders it registers here. Every `CHAIN_CHECKPOINT_SECONDS` it also
signs each tenant's chain head (`checkpoints.checkpoint_if_due`).

With workers (`REDIS_URL`), `manage.py run_reconciler` runs `reconcile()` beside them
(`make worker`). In the embedded mode there is no worker: each server process runs it in a
daemon thread (`start_embedded_reconciler`, called by the WSGI entry point that runserver and
gunicorn load), so that work a dead process left `PENDING`, and failed work whose retry is due,
goes out without anyone running `make worker`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections

from hm_core.events import actors
from hm_core.events.broker import uses_workers
from hm_core.events.checkpoints import checkpoint_if_due
from hm_core.events.subscriptions import drain, lagging

logger = logging.getLogger(__name__)

# In the embedded mode fresh work is sent by the committing request's own thread; the
# reconciler leaves it that long before it counts it as stranded.
EMBEDDED_GRACE = timedelta(seconds=30)

# A resender sends (or hands to the workers) its module's due outbound work, leaving alone what
# became due less than `grace` ago; it returns how many it resent.
Resender = Callable[[timedelta], int]
_resenders: dict[str, Resender] = {}

_thread: threading.Thread | None = None
_lock = threading.Lock()
_stop = threading.Event()


def resender(name: str) -> Callable[[Resender], Resender]:
    """Register a module's resender (from its apps.py ready(), like subscribers)."""

    def decorator(fn: Resender) -> Resender:
        if name in _resenders:
            raise RuntimeError(f"resender {name!r} registered twice")
        _resenders[name] = fn
        return fn

    return decorator


def reconcile(*, grace: timedelta = timedelta(0)) -> tuple[int, int]:
    """One pass: (tenants woken or drained, outbound items resent). Idempotent."""
    tenants = sorted({tenant_id for _, tenant_id in lagging()})
    for tenant_id in tenants:
        if uses_workers():
            actors.drain_tenant.send(str(tenant_id))
        else:
            drain(tenant_id)
    return len(tenants), sum(fn(grace) for fn in _resenders.values())


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
                    "reconciler: %s tenant(s) drained, %s outbound item(s) resent", woken, resent
                )
            checkpointed = checkpoint_if_due()
            if checkpointed:
                logger.info("reconciler: %s chain checkpoint(s) signed", checkpointed)
        except Exception:  # the database is away: try again next pass
            logger.exception("reconciler: pass failed")
        finally:
            close_old_connections()
        _stop.wait(interval)
