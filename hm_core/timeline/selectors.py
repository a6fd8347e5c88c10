"""Timeline pages by cursor: `after=<position>`, oldest first, never OFFSET over history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from hm_core.common.scope import Scope
from hm_core.timeline.models import TimelineEntry


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineEntry]
    next: int | None


def timeline_for_patient(
    *, scope: Scope, patient_id: uuid.UUID, after: int, limit: int
) -> TimelinePage:
    """The patient's history as this facility may see it: its own entries and patient-level ones."""
    qs = TimelineEntry.objects.for_scope(scope).filter(patient_id=patient_id)
    qs = qs.filter(Q(facility_id=scope.facility_id) | Q(tenant_wide=True))
    return _page(qs, after=after, limit=limit)


def timeline_for_encounter(
    *, scope: Scope, encounter_id: uuid.UUID, after: int, limit: int
) -> TimelinePage:
    """Everything attached to one encounter of this facility."""
    qs = TimelineEntry.objects.for_scope(scope).filter(
        encounter_id=encounter_id, facility_id=scope.facility_id
    )
    return _page(qs, after=after, limit=limit)


def _page(qs: object, *, after: int, limit: int) -> TimelinePage:
    rows = list(qs.filter(position__gt=after).order_by("position")[: limit + 1])  # type: ignore[attr-defined]
    has_more = len(rows) > limit
    rows = rows[:limit]
    return TimelinePage(items=rows, next=rows[-1].position if has_more else None)


def encounter_ids_acted_on_by(*, tenant_id: uuid.UUID, actor_id: uuid.UUID) -> QuerySet[Any, Any]:
    """Encounters on which the user recorded something: who is on an encounter's care team
    (contract §18). A subquery to probe per encounter (timeline_by_encounter), never to read
    whole: there is no index by actor."""
    qs = TimelineEntry.objects.filter(tenant_id=tenant_id, actor_id=actor_id)
    return qs.exclude(encounter_id__isnull=True).values("encounter_id")
