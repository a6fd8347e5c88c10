"""Audit read use-cases: the tenant's trail, filtered by patient, actor and time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import Scope


@dataclass(frozen=True)
class AuditFilters:
    patient: uuid.UUID | None = None
    actor: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_record_list(*, scope: Scope, filters: AuditFilters) -> QuerySet[AuditRecord]:
    """Newest first; every filter is served by a (tenant, ..., occurred_at) index."""
    qs = AuditRecord.objects.for_scope(scope)
    if filters.patient is not None:
        qs = qs.filter(patient_id=filters.patient)
    if filters.actor is not None:
        qs = qs.filter(actor_id=filters.actor)
    if filters.since is not None:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(occurred_at__lt=filters.until)
    return qs.order_by("-occurred_at", "-id")
