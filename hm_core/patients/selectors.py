"""Patient read use-cases over the read model; every query goes through `for_scope`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from hm_core.common.crypto import blind_index
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
    phone: str | None = None
    national_id: str | None = None


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
    """Active patients of the tenant, searched by name, MRN prefix, or the whole phone, e-mail
    or national id (encrypted: equal blind indexes, never a prefix or a substring)."""
    qs = Patient.objects.for_scope(scope).filter(is_deleted=False)
    if filters.search:
        term = filters.search
        qs = qs.filter(
            Q(full_name__icontains=term)
            | Q(mrn__istartswith=term)
            | _equal("phone", term)
            | _equal("email", term)
            | _equal("national_id", term)
        )
    if filters.gender:
        qs = qs.filter(gender=filters.gender)
    for kind in ("email", "phone", "national_id"):
        value = getattr(filters, kind)
        if value:
            qs = qs.filter(**{f"{kind}_index": blind_index(kind, value) or "-"})
    # The id breaks ties so that offset paging is stable.
    return qs.order_by(*ORDERINGS[filters.ordering], "id")


def _equal(kind: str, term: str) -> Q:
    """Rows whose `kind` equals `term` once both are normalised; nothing for a term that
    normalises to nothing (a name has no phone digits)."""
    index = blind_index(kind, term)
    return Q(**{f"{kind}_index": index}) if index else Q(pk__in=[])


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
