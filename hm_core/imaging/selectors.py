"""Imaging read use-cases: studies, series, instances, and what linking needs to know.

Studies, series and instances are facility-level reads. Uniqueness is per tenant (a SOP
Instance UID or a study is stored once per tenant), so the duplicate and study-state checks
look across the tenant's facilities.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.imaging import domain
from hm_core.imaging.models import Instance, Series, Study
from hm_core.orders.selectors import order_item_find_by_accession
from hm_core.patients.selectors import patient_find_by_mrn, patients_by_ids


def instance_exists(*, scope: Scope, sop_instance_uid: str) -> bool:
    return Instance.objects.filter(
        tenant_id=scope.tenant_id, sop_instance_uid=sop_instance_uid
    ).exists()


def study_state(*, scope: Scope, study_id: uuid.UUID) -> domain.StudyState | None:
    row = Study.objects.filter(tenant_id=scope.tenant_id, id=study_id).first()
    if row is None:
        return None
    return domain.StudyState(row.version, row.patient_id, row.encounter_id, row.order_item_id)


def link_candidates(
    *, scope: Scope, header: domain.Header, study: domain.StudyState | None
) -> tuple[bool, domain.ItemRef | None, uuid.UUID | None]:
    """Whether the series is known; for a new study, the item its accession names and the
    patient whose MRN is its PatientID."""
    series_known = Series.objects.filter(
        tenant_id=scope.tenant_id, series_instance_uid=header.series_instance_uid
    ).exists()
    if study is not None:
        return series_known, None, None
    return series_known, _item_ref(scope, header.accession_number), _mrn_patient(scope, header)


def _item_ref(scope: Scope, accession_number: str) -> domain.ItemRef | None:
    item = order_item_find_by_accession(scope=scope, accession_number=accession_number)
    if item is None:
        return None
    patient = patients_by_ids(scope=scope, patient_ids=[item.patient_id]).get(item.patient_id)
    return domain.ItemRef(
        item_id=item.id,
        order_id=item.order_id,
        encounter_id=item.encounter_id,
        patient_id=item.patient_id,
        patient_mrn=patient.mrn if patient else "",
    )


def _mrn_patient(scope: Scope, header: domain.Header) -> uuid.UUID | None:
    if not header.patient_id:
        return None
    patient = patient_find_by_mrn(scope=scope, mrn=header.patient_id)
    return patient.id if patient else None


@dataclass(frozen=True)
class StudyFilters:
    patient: uuid.UUID | None = None
    order: uuid.UUID | None = None
    link: str | None = None


def study_list(*, scope: Scope, filters: StudyFilters) -> QuerySet[Study]:
    """The facility's studies, newest first; `link` UNMATCHED is the reconciliation list."""
    qs = Study.objects.for_scope(scope)
    if filters.patient is not None:
        qs = qs.filter(patient_id=filters.patient)
    if filters.order is not None:
        qs = qs.filter(order_id=filters.order)
    if filters.link:
        qs = qs.filter(link=filters.link)
    return qs.order_by("-received_at", "id")


def study_get(*, scope: Scope, study_instance_uid: str) -> Study:
    study = Study.objects.for_scope(scope).filter(study_instance_uid=study_instance_uid).first()
    if study is None:
        raise NotFound(details={"resource": "study"})
    return study


def series_of(*, scope: Scope, study: Study) -> QuerySet[Series]:
    qs = Series.objects.for_scope(scope).filter(study_id=study.id)
    return qs.order_by("series_number", "series_instance_uid")


def series_get(*, scope: Scope, study: Study, series_instance_uid: str) -> Series:
    series = series_of(scope=scope, study=study).filter(series_instance_uid=series_instance_uid)
    found = series.first()
    if found is None:
        raise NotFound(details={"resource": "series"})
    return found


def instances_of(*, scope: Scope, series: Series) -> QuerySet[Instance]:
    qs = Instance.objects.for_scope(scope).filter(series_id=series.id)
    return qs.order_by("instance_number", "sop_instance_uid")


def instance_get(*, scope: Scope, sop_instance_uid: str) -> Instance:
    found = Instance.objects.for_scope(scope).filter(sop_instance_uid=sop_instance_uid).first()
    if found is None:
        raise NotFound(details={"resource": "instance"})
    return found


def instance_study(*, scope: Scope, instance: Instance) -> Study:
    return Study.objects.for_scope(scope).get(id=instance.study_id)
