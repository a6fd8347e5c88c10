"""Patient read use-cases over the read model; every query goes through `for_scope`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from hm_core.common.crypto import blind_index
from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.patients import access
from hm_core.patients.models import BreakGlassGrant, Patient, PatientConsent

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


def patient_readable_get(*, scope: Scope, patient_id: uuid.UUID) -> Patient:
    """The patient as `patient_get`, and 404 too when it is confidential and the user is not
    on its care team nor holds a break-glass grant (contract §18). Every read path uses it."""
    patient = patient_get(scope=scope, patient_id=patient_id)
    if patient.confidential and not patient_visible_ids(scope=scope, patient_ids=[patient.id]):
        raise NotFound(details={"resource": "patient"})
    return patient


def patient_visible_ids(*, scope: Scope, patient_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `patient_ids` (the tenant's, deleted or not) the scope's user may read: the
    confidential-patient rule of `access.py`.

    One plain query when none of them is confidential (nearly every read and search about a
    patient); the rule, whose subqueries cost more to build, compile and plan than such a
    query costs to run, is asked in a second one about the confidential ones only."""
    ids = list(patient_ids)
    if not ids:
        return set()
    qs = Patient.objects.for_scope(scope).filter(id__in=ids)
    if scope.principal.restricted:  # a patient's own account: itself alone
        return set(qs.filter(access.visible_to(scope)).values_list("id", flat=True))
    found = dict(qs.values_list("id", "confidential"))
    confidential = {pid for pid, is_confidential in found.items() if is_confidential}
    readable = confidential_readable_ids(scope=scope, patient_ids=confidential)
    return set(found) - confidential | readable


def confidential_readable_ids(*, scope: Scope, patient_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these confidential patients the scope's user may read (care team, break-glass,
    a patient's own account), in at most one query: for callers that know the patients are
    confidential (the realtime feed's batch)."""
    ids = set(patient_ids)
    user_id = scope.principal.user_id
    if not ids or user_id is None:  # the system principal sees everyone
        return ids
    if scope.principal.restricted:
        return ids & {scope.principal.patient_id}
    return ids & set(access.readable_confidential_ids(scope, user_id))


def patients_hidden_from(*, scope: Scope) -> QuerySet[Any, Any]:
    """A subquery of the patient ids the user may not read: other modules' patient-data lists
    (encounters, ...) exclude `patient_id__in` it. Empty for the system."""
    return access.hidden_from(scope)


def patient_list(*, scope: Scope, filters: PatientFilters) -> QuerySet[Patient]:
    """Active patients of the tenant the user may read, searched by name, MRN prefix, or the
    whole phone, e-mail or national id (encrypted: equal blind indexes, never a prefix)."""
    qs = Patient.objects.for_scope(scope).filter(is_deleted=False).filter(access.visible_to(scope))
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
    return Patient.objects.for_scope(scope).filter(mrn_equals(mrn), is_deleted=False).first()


def mrn_equals(*mrns: str) -> Q:
    """Exactly these MRNs, written so that the `(tenant_id, UPPER(mrn))` index serves it: an
    MRN is unique ignoring case, so the upper-cased match reads at most one row per MRN, and
    the exact one keeps the case (a plain `mrn = %s` has no index: it read the tenant)."""
    if not mrns:
        return Q(pk__in=[])
    upper = Q()
    for mrn in mrns:
        upper |= Q(mrn__iexact=mrn)
    return upper & Q(mrn__in=mrns)


def patients_by_ids(*, scope: Scope, patient_ids: list[uuid.UUID]) -> dict[uuid.UUID, Patient]:
    """The tenant's patients among `patient_ids`, in one query (worklists, study lists)."""
    rows = Patient.objects.for_scope(scope).filter(id__in=patient_ids)
    return {patient.id: patient for patient in rows}


def consent_get(*, scope: Scope, consent_id: uuid.UUID) -> PatientConsent:
    consent = PatientConsent.objects.for_scope(scope).filter(id=consent_id).first()
    if consent is None:
        raise NotFound(details={"resource": "consent"})
    return consent


def consent_list(*, scope: Scope, patient_id: uuid.UUID) -> QuerySet[PatientConsent]:
    """The patient's consents in the order they were recorded."""
    return (
        PatientConsent.objects.for_scope(scope).filter(patient_id=patient_id).order_by("position")
    )


def consent_all(*, scope: Scope) -> QuerySet[PatientConsent]:
    """Every consent of the tenant's patients the user may read (FHIR `Consent` search):
    a confidential patient's consents only for its care team (contract §18)."""
    return PatientConsent.objects.for_scope(scope).exclude(patient_id__in=access.hidden_from(scope))


def patients_denying_sharing(
    *, tenant_id: uuid.UUID, patient_ids: Iterable[uuid.UUID], at: datetime | None = None
) -> set[uuid.UUID]:
    """Which of `patient_ids` have an active `data_sharing: deny` consent (contract §18): of
    the data_sharing consents valid at `at` (now), the one recorded last decides. One query.

    Takes a tenant id rather than a scope: outbound HL7 and bulk export run as the system."""
    at = at or utcnow()
    ids = list(patient_ids)
    if not ids:
        return set()
    # Cross-scope callers (async workers): filtered on the tenant explicitly.
    rows = (
        PatientConsent.all_tenants.filter(
            tenant_id=tenant_id, patient_id__in=ids, category="data_sharing", valid_from__lte=at
        )
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by("patient_id", "position")
        .values_list("patient_id", "decision")
    )
    latest = dict(rows)  # ordered by position: the last one recorded per patient wins
    return {patient_id for patient_id, decision in latest.items() if decision == "deny"}


def break_glass_get(*, scope: Scope, grant_id: uuid.UUID) -> BreakGlassGrant:
    grant = BreakGlassGrant.objects.for_scope(scope).filter(id=grant_id).first()
    if grant is None:
        raise NotFound(details={"resource": "break_glass_grant"})
    return grant
