"""Encounter read use-cases over the read models."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.encounters.models import OPEN_STATUSES, Encounter, VitalsRecord


def encounter_get(*, scope: Scope, encounter_id: uuid.UUID) -> Encounter:
    """The facility's encounter, or 404 — also when another facility or tenant has it."""
    encounter = Encounter.objects.for_scope(scope).filter(id=encounter_id).first()
    if encounter is None:
        raise NotFound(details={"resource": "encounter"})
    return encounter


def encounter_find_by_visit_number(*, scope: Scope, visit_number: str) -> Encounter | None:
    """The facility's encounter another system knows by `visit_number` (HL7 PV1-19), if any."""
    return Encounter.objects.for_scope(scope).filter(visit_number=visit_number).first()


def encounter_list(
    *, scope: Scope, patient: uuid.UUID | None, status: str | None
) -> QuerySet[Encounter]:
    """The facility's encounters, most recently scheduled first."""
    qs = Encounter.objects.for_scope(scope)
    if patient is not None:
        qs = qs.filter(patient_id=patient)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-scheduled_at", "id")


def vitals_get(*, scope: Scope, vitals_id: uuid.UUID) -> VitalsRecord:
    vitals = VitalsRecord.objects.for_scope(scope).filter(id=vitals_id).first()
    if vitals is None:
        raise NotFound(details={"resource": "vitals"})
    return vitals


def vitals_list(
    *, scope: Scope, encounter: uuid.UUID | None = None, patient: uuid.UUID | None = None
) -> QuerySet[VitalsRecord]:
    """The facility's vitals records (FHIR vital-signs Observations), oldest first."""
    qs = VitalsRecord.objects.for_scope(scope)
    if encounter is not None:
        qs = qs.filter(encounter_id=encounter)
    if patient is not None:
        qs = qs.filter(patient_id=patient)
    return qs.order_by("recorded_at", "id")


def encounter_open_patient_ids(
    *, tenant_id: uuid.UUID, patient_ids: QuerySet[Any], encounter_ids: QuerySet[Any]
) -> QuerySet[Any, Any]:
    """Which of `patient_ids` (a small subquery: the confidential ones) have an open encounter
    among `encounter_ids` (a subquery), any facility: the care-team rule (contract §18).

    Walks from the patients to their open encounters (encounters_open_by_patient) and probes
    `encounter_ids` per encounter; starting from every open encounter of the tenant instead
    cost 400 ms at 300,000 encounters (docs/performance.md)."""
    qs = Encounter.objects.filter(
        tenant_id=tenant_id,
        patient_id__in=patient_ids,
        id__in=encounter_ids,
        status__in=OPEN_STATUSES,
    )
    return qs.values("patient_id")
