"""dramatiq actors of the event store: drain a tenant's async subscriptions."""

from __future__ import annotations

import uuid

import dramatiq

from hm_core.events.broker import DRAIN_TENANT, QUEUE
from hm_core.events.subscriptions import drain


@dramatiq.actor(actor_name=DRAIN_TENANT, queue_name=QUEUE, max_retries=3, min_backoff=1000)
def drain_tenant(tenant_id: str) -> None:
    """Process every async subscription of the tenant from its checkpoint (idempotent)."""
    drain(uuid.UUID(tenant_id))
