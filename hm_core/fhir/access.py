"""Confidential patients through FHIR (contract §18): the rule of `hm_core/patients/access.py`,
applied once to whatever a mapper yields.

A user outside a confidential patient's care team (and without a break-glass grant) gets 404
for any resource about that patient — read, vread, history — exactly as for one that does not
exist, and searches (hence `$everything` and paging totals) leave those resources out. The
audit trail (`AuditEvent`) is exempt: it is how access to such patients is reviewed, and
`/api/audit/` shows it whole too.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.fhir import params
from hm_core.fhir.registry import Criteria, Mapper, Source, Version
from hm_core.patients.models import Patient
from hm_core.patients.selectors import patient_visible_ids, patients_hidden_from

# Types whose resources are not the patient's care (see the module docstring).
EXEMPT = frozenset({"AuditEvent"})


def check_readable(scope: Scope, mapper: Mapper, versions: Sequence[Version]) -> None:
    """404 unless the scope's user may read the patient of every version (one query)."""
    if mapper.resource_type in EXEMPT:
        return
    patients = {v.patient_id for v in versions if v.patient_id is not None}
    if patients and patient_visible_ids(scope=scope, patient_ids=patients) != patients:
        raise NotFound(details={"resource": mapper.resource_type})


def visible_sources(
    scope: Scope,
    mapper: Mapper,
    sources: list[Source],
    patients: Collection[uuid.UUID] | None = None,
) -> list[Source]:
    """The sources without the rows of patients the user may not read.

    `patients`: the search is about these patients only (its `patient`/`subject` criteria, a
    `$everything`): which of them the user may read is then asked once, and the rows are
    limited to those, instead of a subquery of the rule in every source's statement — the rule
    costs more to build and compile than such a search costs to run."""
    if mapper.resource_type in EXEMPT:
        return sources
    if patients is not None:
        readable = patient_visible_ids(scope=scope, patient_ids=patients)
        return limited_to(mapper, sources, readable)
    # The rule is read (one query) at most once, by the first source about patients.
    hidden = functools.cache(lambda: patients_hidden_from(scope=scope))
    return [_visible(source, hidden) for source in sources]


def limited_to(mapper: Mapper, sources: list[Source], readable: set[uuid.UUID]) -> list[Source]:
    """The sources' rows about `readable` patients only, which the caller has checked the user
    may read (`$everything`, after reading its patient)."""
    if mapper.resource_type in EXEMPT:
        return sources
    return [_limited(source, readable) for source in sources]


def searched_patients(criteria: Criteria) -> set[uuid.UUID] | None:
    """The patients a search's `patient`/`subject` criteria limit it to (a comma is OR, a
    repeated parameter AND, as the mappers filter them), or None when it names none."""
    found: set[uuid.UUID] | None = None
    for name in ("patient", "subject"):
        for value in criteria.get(name, ()):
            ids = set(params.reference_ids(value, "Patient"))
            found = ids if found is None else found & ids
    return found


def _patient_column(source: Source) -> str | None:
    model = source.rows.model
    column = "id" if issubclass(model, Patient) else "patient_id"
    try:
        model._meta.get_field(column)
    except FieldDoesNotExist:
        return None  # rows about no patient
    return column


def _limited(source: Source, readable: set[uuid.UUID]) -> Source:
    column = _patient_column(source)
    if column is None or source.readable:
        return source
    return dataclasses.replace(source, rows=source.rows.filter(**{f"{column}__in": readable}))


def _visible(source: Source, hidden: Callable[[], QuerySet[Any, Any]]) -> Source:
    column = _patient_column(source)
    if column is None or source.readable:
        return source  # `readable`: filtered by the same rule where its rows were selected
    rows = source.rows.exclude(**{f"{column}__in": hidden()})
    return dataclasses.replace(source, rows=rows)
