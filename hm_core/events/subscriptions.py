"""Checkpointed async subscriptions: work that must not slow a clinician's request.

An async subscriber (`@async_subscriber("webhooks", OrderPlaced, ...)`) reads a tenant's events
after its own checkpoint, in position order, and advances the checkpoint in the same
transaction as its effects. PostgreSQL is the source of truth; the broker only wakes workers:

* after a command commits, `wake(tenant)` sends one message per tenant to the workers (Redis),
  or, with no broker configured (the embedded default), drains in-process right away;
* a lost, duplicated or delayed message only changes *when* events are processed, never
  *whether*: `reconcile()` (run periodically by `manage.py run_reconciler`) wakes every
  subscription whose checkpoint lags the tenant's head;
* a failing handler keeps its checkpoint before the failing event and retries with backoff,
  without holding back the other subscriptions, which keep their own checkpoints;
* nobody listening, no work: a command whose events no subscription wants, or only ones whose
  tenant has no listener (no active webhook endpoint, no outbound channel), moves the
  caught-up checkpoints past its own events in its own transaction (`advance_idle`, one
  UPDATE) and wakes nobody. Listeners are configuration written by events under the same
  tenant lock, so "no listener" is exact, never a stale cache.

Tenant positions are gapless and committed in order (the tenant append lock), so "everything
after my checkpoint" never skips an event that commits later.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Exists, Q, QuerySet, Sum

from hm_core.common import rls
from hm_core.common.db import CompiledQuery, Sql, update_sql
from hm_core.common.time import utcnow
from hm_core.events import store
from hm_core.events.base import DomainEvent, EventMeta
from hm_core.events.models import Event, SubscriptionCheckpoint, TenantEventHead
from hm_core.events.ops import Compiled

logger = logging.getLogger(__name__)

AsyncHandler = Callable[[Any, EventMeta], None]
# The rows whose existence means a tenant may want a subscription's work (e.g. its active
# webhook endpoints); with none, the subscription has nothing to do for that tenant.
Listeners = Callable[[uuid.UUID], QuerySet[Any]]
MAX_BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True)
class AsyncSubscription:
    name: str
    handler: AsyncHandler
    event_types: frozenset[str] | None
    listeners: Listeners | None = None

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types

    def idle_kind(self, event_types: set[str]) -> str | None:
        """When these events are no work for it: "always" (it wants none of them),
        "unheard" (when the tenant has no listener), or never (None)."""
        if not any(self.wants(t) for t in event_types):
            return "always"
        return None if self.listeners is None else "unheard"

    def idle_when(self, tenant_id: uuid.UUID, kind: str) -> Q:
        """The condition `idle_kind` names, for the checkpoints of one tenant."""
        if kind == "always":
            return Q(name=self.name)
        assert self.listeners is not None  # noqa: S101 (idle_kind says "unheard" only then)
        return Q(Q(name=self.name), ~Exists(self.listeners(tenant_id)))


_registry: dict[str, AsyncSubscription] = {}


def async_subscriber(
    name: str,
    *event_classes: type[DomainEvent],
    all_events: bool = False,
    listeners: Listeners | None = None,
) -> Callable[[AsyncHandler], AsyncHandler]:
    """Register an idempotent handler run by workers from its own checkpoint; `listeners`
    lets a command skip it for a tenant where nobody would receive its work."""

    def decorator(handler: AsyncHandler) -> AsyncHandler:
        if apps.ready:
            raise RuntimeError(f"late async subscription {name!r}: register from apps.py ready()")
        if name in _registry:
            raise RuntimeError(f"async subscription {name!r} registered twice")
        types = None if all_events else frozenset(cls.event_type for cls in event_classes)
        _registry[name] = AsyncSubscription(name, handler, types, listeners)
        return handler

    return decorator


def async_subscriptions() -> list[AsyncSubscription]:
    return [_registry[name] for name in sorted(_registry)]


# (subscription, idle kind) pairs → their UPDATE, compiled once per process and database.
_Shape = tuple[tuple[AsyncSubscription, str], ...]
_idle_updates: dict[_Shape, CompiledQuery] = {}


def advance_idle(
    tenant_id: uuid.UUID, *, from_position: int, to_position: int, event_types: set[str]
) -> tuple[Compiled, int] | None:
    """For the command's unit of work: the update that moves every checkpoint that stood at
    `from_position` (caught up before the command) and has no work in these events to
    `to_position`, and how many subscriptions there are (all moved: nobody to wake). None
    when no subscription can be idle for these events.

    Its statement depends only on which subscriptions can be idle and how, so it is compiled
    once per such shape (building the `Exists` conditions was 9 % of a LAB order, issue 10)."""
    subs = async_subscriptions()
    shape = tuple((sub, kind) for sub in subs if (kind := sub.idle_kind(event_types)))
    if not shape:
        return None
    compiled = _idle_updates.get(shape)
    if compiled is None:
        compiled = _idle_updates[shape] = _idle_update(shape)
    statement = compiled.statement(
        tenant_id=tenant_id, from_position=from_position, to_position=to_position, now=utcnow()
    )
    return Compiled(SubscriptionCheckpoint._meta.db_table, statement), len(subs)


def _idle_update(shape: _Shape) -> CompiledQuery:
    def build(*, tenant_id: uuid.UUID, from_position: int, to_position: int, now: Any) -> Sql:
        conditions = [sub.idle_when(tenant_id, kind) for sub, kind in shape]
        idle = conditions[0]
        for condition in conditions[1:]:
            idle |= condition
        checkpoints = SubscriptionCheckpoint.objects.filter(
            tenant_id=tenant_id, position=from_position
        ).filter(idle)
        statement = update_sql(checkpoints, {"position": to_position, "updated_at": now})
        assert statement is not None  # noqa: S101 (one table, values to set)
        return statement

    meta = SubscriptionCheckpoint._meta
    return CompiledQuery(
        SubscriptionCheckpoint,
        build,
        tenant_id=meta.get_field("tenant_id"),
        from_position=meta.get_field("position"),
        to_position=meta.get_field("position"),
        now=meta.get_field("updated_at"),
    )


def process_batch(name: str, tenant_id: uuid.UUID, *, limit: int = 200) -> int:
    """Hand up to `limit` events after the checkpoint to the handler; returns how many passed.

    Runs in one transaction with the checkpoint row locked (`SKIP LOCKED`: a second worker on
    the same subscription and tenant moves on instead of waiting).
    """
    sub = _registry[name]
    with transaction.atomic():
        checkpoint = _lock_checkpoint(name, tenant_id)
        if checkpoint is None or (checkpoint.retry_at and checkpoint.retry_at > utcnow()):
            return 0
        after = Event.objects.filter(tenant_id=tenant_id, position__gt=checkpoint.position)
        rows = list(after.order_by("position")[:limit])
        # Nobody listening: the handler would find no one to give any of them to. Asked after
        # reading the events, so a listener added before any of them is seen.
        listeners = sub.listeners
        unheard = bool(rows) and listeners is not None and not listeners(tenant_id).exists()
        passed, failed, was_failing = 0, False, checkpoint.failures > 0
        for row in rows:
            if not unheard and sub.wants(row.type) and not _handle(sub, row, checkpoint):
                failed = True
                break
            checkpoint.position = row.position
            passed += 1
        if not failed:
            checkpoint.failures, checkpoint.last_error, checkpoint.retry_at = 0, "", None
        if passed or failed or was_failing:
            checkpoint.save()  # nothing new and nothing wrong: no write, no extra commit
        return passed


def _handle(sub: AsyncSubscription, row: Event, checkpoint: SubscriptionCheckpoint) -> bool:
    """Run the handler in a savepoint; on failure record it and schedule a retry."""
    try:
        with transaction.atomic():
            recorded = store.load(row)
            sub.handler(recorded.event, recorded.meta)
    except Exception as exc:
        checkpoint.failures += 1
        checkpoint.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        delay = min(timedelta(seconds=2**checkpoint.failures), MAX_BACKOFF)
        checkpoint.retry_at = utcnow() + delay
        logger.exception("async subscriber %s failed at position %s", sub.name, row.position)
        return False
    return True


def _lock_checkpoint(name: str, tenant_id: uuid.UUID) -> SubscriptionCheckpoint | None:
    qs = SubscriptionCheckpoint.objects.select_for_update(skip_locked=True)
    checkpoint = qs.filter(name=name, tenant_id=tenant_id).first()
    if checkpoint is None:
        SubscriptionCheckpoint.objects.bulk_create(
            [SubscriptionCheckpoint(name=name, tenant_id=tenant_id)], ignore_conflicts=True
        )
        checkpoint = qs.filter(name=name, tenant_id=tenant_id).first()
    return checkpoint


def drain(tenant_id: uuid.UUID, *, names: list[str] | None = None, max_batches: int = 50) -> int:
    """Process every async subscription of a tenant until caught up (or `max_batches`)."""
    with rls.tenant(tenant_id):  # the tenant's subscribers see the tenant's rows only
        return _drain(tenant_id, names=names, max_batches=max_batches)


def _drain(tenant_id: uuid.UUID, *, names: list[str] | None, max_batches: int) -> int:
    total = 0
    for name in names or sorted(_registry):
        for _ in range(max_batches):
            passed = process_batch(name, tenant_id)
            total += passed
            if passed == 0:
                break
    return total


def lagging() -> list[tuple[str, uuid.UUID]]:
    """(subscription, tenant) pairs whose checkpoint is behind the tenant's head."""
    heads = dict(TenantEventHead.objects.values_list("tenant_id", "position"))
    done = {
        (cp.name, cp.tenant_id): cp.position
        for cp in SubscriptionCheckpoint.objects.filter(name__in=list(_registry))
    }
    return [
        (name, tenant_id)
        for name in sorted(_registry)
        for tenant_id, head in heads.items()
        if done.get((name, tenant_id), 0) < head
    ]


def lag_by_subscription() -> dict[str, int]:
    """Events each subscription has still to process, summed over tenants (for /api/health/)."""
    heads_total = TenantEventHead.objects.aggregate(total=Sum("position"))["total"] or 0
    result = {}
    for name in sorted(_registry):
        done = (
            SubscriptionCheckpoint.objects.filter(name=name).aggregate(total=Sum("position"))[
                "total"
            ]
            or 0
        )
        result[name] = max(heads_total - done, 0)
    return result
