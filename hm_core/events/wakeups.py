"""Waking a tenant's async subscriptions after a commit: in-process, or through the broker.

Layering, lowest first: `broker` (transport, queue and actor names, sending by name) ←
`actors` (the dramatiq actor that drains a tenant) and `wakeups` (this module: drain here or
send a message) ← `bus`. Nothing imports upwards, so no import needs to hide in a function.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Callable, Iterator

from hm_core.events import subscriptions
from hm_core.events.broker import DRAIN_TENANT, QUEUE, send, uses_workers

logger = logging.getLogger(__name__)

# Told, after each commit, that a tenant's log moved (the realtime fan-out registers here from
# its apps.py ready(): this package imports no domain module). One call per tenant per
# transaction, never per event; a listener must be cheap and must not raise.
_commit_listeners: list[Callable[[uuid.UUID], None]] = []

_deferred: contextvars.ContextVar[set[uuid.UUID] | None] = contextvars.ContextVar(
    "hm_deferred_wakes", default=None
)


@contextlib.contextmanager
def deferred_wakes() -> Iterator[set[uuid.UUID]]:
    """Collect the in-process drains of the block instead of running them, for a caller that
    answers first and drains afterwards (the MLLP listener: the ACK only needs the commit).
    With workers a wake is a message to Redis and is sent at once as usual."""
    tenants: set[uuid.UUID] = set()
    token = _deferred.set(tenants)
    try:
        yield tenants
    finally:
        _deferred.reset(token)


def drain_now(tenants: set[uuid.UUID]) -> None:
    """Run the drains `deferred_wakes` collected (in whatever thread the caller chooses)."""
    for tenant_id in sorted(tenants):
        wake(tenant_id)


def on_tenant_committed(listener: Callable[[uuid.UUID], None]) -> None:
    """Register `listener(tenant_id)`, called after every commit that appended events."""
    if listener not in _commit_listeners:
        _commit_listeners.append(listener)


def committed(tenant_id: uuid.UUID, *, wake_subscriptions: bool = True) -> None:
    """After a commit: tell the commit listeners first (a socket push is the cheap part),
    then wake the async subscriptions (unless the command found it was nobody's work)."""
    for listener in _commit_listeners:
        try:
            listener(tenant_id)
        except Exception:  # a lost announcement only delays a push until the next poll
            logger.warning("commit listener %r failed for tenant %s", listener, tenant_id)
    if wake_subscriptions:
        wake(tenant_id)


def wake(tenant_id: uuid.UUID) -> None:
    """After a commit: have the tenant's async subscriptions process their new events."""
    if not subscriptions.async_subscriptions():
        return
    deferred = _deferred.get()
    if deferred is not None and not uses_workers():
        deferred.add(tenant_id)
        return
    if not uses_workers():
        # In-process, inside somebody's request: one batch per subscription, never a backlog.
        subscriptions.drain(tenant_id, max_batches=1)
        return
    try:
        send(QUEUE, DRAIN_TENANT, str(tenant_id))
    except Exception:  # the reconciler will notice the lag and wake the workers later
        logger.warning("broker unreachable; tenant %s will be drained by the reconciler", tenant_id)
