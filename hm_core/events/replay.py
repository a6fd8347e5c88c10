"""Rebuilding read models from the event store.

A module declares the read models its projections own with `rebuildable("tasks", Task)`.
`rebuild(...)` deletes those rows for a tenant and replays the tenant's events, in position
order, through that module's projections only (policies never run on replay), all in one
transaction per tenant so a reader never sees a half-built projection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction

from hm_core.events import bus, store
from hm_core.events.models import Event

_read_models: dict[str, tuple[type[models.Model], ...]] = {}

Progress = Callable[[int, int], None]


def rebuildable(module: str, *read_models: type[models.Model]) -> None:
    """Declare the read models a module's projections build (call at projections import)."""
    if apps.ready:
        raise RuntimeError(f"late rebuildable({module!r}): declare it from projections.py")
    _read_models[module] = read_models


def rebuildable_modules() -> list[str]:
    return sorted(_read_models)


def read_models_of(modules: Iterable[str]) -> list[type[models.Model]]:
    """The read models the named modules' projections build, in a stable order."""
    unknown = set(modules) - set(_read_models)
    if unknown:
        raise ValueError(f"not rebuildable: {sorted(unknown)}; known: {rebuildable_modules()}")
    return [model for module in sorted(set(modules)) for model in _read_models[module]]


@dataclass
class RebuildReport:
    tenants: int = 0
    events: int = 0
    rows_deleted: int = 0


def rebuild(
    modules: Iterable[str],
    *,
    tenant_ids: Iterable[uuid.UUID] | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Drop and replay the read models of `modules` for each tenant (all tenants by default)."""
    selected = frozenset(modules)
    unknown = selected - set(_read_models)
    if unknown:
        raise ValueError(f"not rebuildable: {sorted(unknown)}; known: {rebuildable_modules()}")
    tenants = list(tenant_ids) if tenant_ids is not None else _tenants_with_events()
    total = Event.objects.filter(tenant_id__in=tenants).count()
    report = RebuildReport()
    for tenant_id in tenants:
        with transaction.atomic():
            report.rows_deleted += _drop(selected, tenant_id)
            for row in store.read_all(tenant_id=tenant_id):
                bus.replay(store.load(row, replaying=True), modules=selected)
                report.events += 1
                if progress is not None:
                    progress(report.events, total)
        report.tenants += 1
    return report


def _tenants_with_events() -> list[uuid.UUID]:
    return list(Event.objects.values_list("tenant_id", flat=True).distinct().order_by("tenant_id"))


def _drop(modules: frozenset[str], tenant_id: uuid.UUID) -> int:
    deleted = 0
    for module in sorted(modules):
        for model in _read_models[module]:
            deleted += model._base_manager.filter(tenant_id=tenant_id).delete()[0]
    return deleted
