"""Patient read use-cases over the read model; every query goes through `for_scope`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.patients.models import Patient

# The family name sorts like a registrar's list: by family name, then given name.
ORDERINGS: dict[str, tuple[str, ...]] = {
    "family_name": ("family_name", "given_name"),
    "-family_name": ("-family_name", "-given_name"),
    **{
        f"{sign}{name}": (f"{sign}{name}",)
        for name in ("full_name", "given_name", "created_at", "mrn", "date_of_birth")
        for sign in ("", "-")
    },
}


@dataclass(frozen=True)
class PatientFilters:
    search: str | None = None
    gender: str | None = None
    ordering: str = "-created_at"
    email: str | None = None
    # Exact phone match (FHIR `phone`); goes through here so that field encryption can swap
    # the column for its blind index in one place.
    phone: str | None = None


def patient_get(*, scope: Scope, patient_id: uuid.UUID, include_deleted: bool = False) -> Patient:
    """The patient if the tenant has it (and it is not deleted); else 404, like a missing one."""
    qs = Patient.objects.for_scope(scope)
    if not include_deleted:
        qs = qs.filter(is_deleted=False)
    patient = qs.filter(id=patient_id).first()
    if patient is None:
        raise NotFound(details={"resource": "patient"})
    return patient


def patient_list(*, scope: Scope, filters: PatientFilters) -> QuerySet[Patient]:
    """Active patients of the tenant, searched by name, MRN prefix, phone prefix or e-mail."""
    qs = Patient.objects.for_scope(scope).filter(is_deleted=False)
    if filters.search:
        term = filters.search
        qs = qs.filter(
            Q(full_name__icontains=term)
            | Q(mrn__istartswith=term)
            | Q(phone__startswith=term)
            | Q(email__contains=term.lower())  # e-mails are stored lower-cased
        )
    if filters.gender:
        qs = qs.filter(gender=filters.gender)
    if filters.email:
        qs = qs.filter(email=filters.email.strip().lower())
    if filters.phone:
        qs = qs.filter(phone=filters.phone.strip())
    # The id breaks ties so that offset paging is stable.
    return qs.order_by(*ORDERINGS[filters.ordering], "id")


def patient_mrn_taken(*, scope: Scope, mrn: str, exclude: uuid.UUID | None = None) -> bool:
    """Whether another patient of the tenant has this MRN, in any letter case."""
    qs = Patient.objects.for_scope(scope).filter(mrn__iexact=mrn)
    if exclude is not None:
        qs = qs.exclude(id=exclude)
    return qs.exists()


def patient_find_by_mrn(*, scope: Scope, mrn: str) -> Patient | None:
    """The tenant's active patient with exactly this MRN (e.g. HL7 PID-3), if any."""
    return Patient.objects.for_scope(scope).filter(mrn=mrn, is_deleted=False).first()


def patients_by_ids(*, scope: Scope, patient_ids: list[uuid.UUID]) -> dict[uuid.UUID, Patient]:
    """The tenant's patients among `patient_ids`, in one query (worklists, study lists)."""
    rows = Patient.objects.for_scope(scope).filter(id__in=patient_ids)
    return {patient.id: patient for patient in rows}
