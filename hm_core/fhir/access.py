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
from collections.abc import Sequence

from django.core.exceptions import FieldDoesNotExist

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.fhir.registry import Mapper, Source, Version
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


def visible_sources(scope: Scope, mapper: Mapper, sources: list[Source]) -> list[Source]:
    """The sources without the rows of patients the user may not read (a subquery each)."""
    if mapper.resource_type in EXEMPT:
        return sources
    return [_visible(scope, source) for source in sources]


def _visible(scope: Scope, source: Source) -> Source:
    if source.readable:
        return source  # filtered by the same rule where its rows were selected
    model = source.rows.model
    column = "id" if issubclass(model, Patient) else "patient_id"
    try:
        model._meta.get_field(column)
    except FieldDoesNotExist:
        return source  # rows about no patient
    rows = source.rows.exclude(**{f"{column}__in": patients_hidden_from(scope=scope)})
    return dataclasses.replace(source, rows=rows)
