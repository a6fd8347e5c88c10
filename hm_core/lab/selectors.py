"""Laboratory read use-cases over the read models (facility-scoped)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.lab.domain import CORRECTED, RELEASED
from hm_core.lab.models import LabResult, LabResultVersion, Sample
from hm_core.orders.events import ITEM_CANCELLED
from hm_core.orders.selectors import order_items


@dataclass(frozen=True)
class SampleFilters:
    status: str | None = None
    order: uuid.UUID | None = None
    encounter: uuid.UUID | None = None


@dataclass(frozen=True)
class ResultFilters:
    encounter: uuid.UUID | None = None
    order: uuid.UUID | None = None
    status: str | None = None


def sample_get(*, scope: Scope, sample_id: uuid.UUID) -> Sample:
    sample = Sample.objects.for_scope(scope).filter(id=sample_id).first()
    if sample is None:
        raise NotFound(details={"resource": "sample"})
    return sample


def sample_list(*, scope: Scope, filters: SampleFilters) -> QuerySet[Sample]:
    """The facility's samples, oldest first (a collection list is worked from its head)."""
    qs = Sample.objects.for_scope(scope)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.order is not None:
        qs = qs.filter(order_id=filters.order)
    if filters.encounter is not None:
        qs = qs.filter(encounter_id=filters.encounter)
    return qs.order_by("created_at", "id")


def samples_of_order(
    *, scope: Scope, order_id: uuid.UUID, status: str | None = None
) -> list[Sample]:
    """The samples of one order (in `status`), oldest first: a recollection after what it
    replaces."""
    return list(sample_list(scope=scope, filters=SampleFilters(status=status, order=order_id)))


def sample_for_item(*, scope: Scope, order_id: uuid.UUID, item_id: uuid.UUID) -> Sample | None:
    """The item's current sample: the newest one collected for it (a recollection wins)."""
    mine = [
        s for s in samples_of_order(scope=scope, order_id=order_id) if str(item_id) in s.item_ids
    ]
    return mine[-1] if mine else None


def sample_barcode_taken(*, scope: Scope, barcode: str, exclude: uuid.UUID) -> bool:
    """True when another sample of the facility carries `barcode`."""
    return Sample.objects.for_scope(scope).filter(barcode=barcode).exclude(id=exclude).exists()


def sample_outstanding_items(*, scope: Scope, sample: Sample) -> list[uuid.UUID]:
    """Items of the sample still waiting for a result: neither resulted nor cancelled.

    Two queries: the order's items (their statuses) and the results of the sample's items.
    """
    ids = {uuid.UUID(raw) for raw in sample.item_ids}
    items = order_items(scope=scope, order_ids=[sample.order_id]).get(sample.order_id, [])
    cancelled = {i.id for i in items if i.id in ids and i.status == ITEM_CANCELLED}
    resulted = set(
        LabResult.objects.for_scope(scope)
        .filter(order_item_id__in=ids)
        .values_list("order_item_id", flat=True)
    )
    return sorted(ids - cancelled - resulted, key=str)


def sample_has_results(*, scope: Scope, sample: Sample) -> bool:
    ids = [uuid.UUID(raw) for raw in sample.item_ids]
    return LabResult.objects.for_scope(scope).filter(order_item_id__in=ids).exists()


def _results(scope: Scope) -> QuerySet[LabResult]:
    """The scope's results; a patient's own account sees released (or corrected) ones only."""
    qs = LabResult.objects.for_scope(scope)
    if scope.principal.restricted:
        qs = qs.filter(status__in=(RELEASED, CORRECTED))
    return qs


def lab_result_get(*, scope: Scope, result_id: uuid.UUID) -> LabResult:
    result = _results(scope).filter(id=result_id).first()
    if result is None:
        raise NotFound(details={"resource": "lab_result"})
    return result


def lab_result_for_item(*, scope: Scope, item_id: uuid.UUID) -> LabResult | None:
    return LabResult.objects.for_scope(scope).filter(order_item_id=item_id).first()


def lab_result_list(*, scope: Scope, filters: ResultFilters) -> QuerySet[LabResult]:
    """The facility's results, oldest first."""
    qs = _results(scope)
    if filters.encounter is not None:
        qs = qs.filter(encounter_id=filters.encounter)
    if filters.order is not None:
        qs = qs.filter(order_id=filters.order)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by("created_at", "id")


def lab_result_versions(*, scope: Scope, result_id: uuid.UUID) -> QuerySet[LabResultVersion]:
    """Every reported version of one result, oldest first."""
    return LabResultVersion.objects.for_scope(scope).filter(result_id=result_id).order_by("version")


def lab_result_version_list(*, scope: Scope) -> QuerySet[LabResultVersion]:
    """Every reported version of the facility's results (FHIR DiagnosticReports)."""
    return LabResultVersion.objects.for_scope(scope)
