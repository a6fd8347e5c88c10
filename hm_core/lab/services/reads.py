"""The audited reads of lab results (patient data)."""

from __future__ import annotations

import uuid
from typing import Any

from hm_core.audit.services import audited_read, audited_read_each, audited_versions_page
from hm_core.common.pagination import paginate
from hm_core.common.scope import Scope
from hm_core.lab.models import LabResult
from hm_core.lab.selectors import (
    ResultFilters,
    lab_result_get,
    lab_result_list,
    lab_result_versions,
)


def _audit_detail(result: LabResult) -> dict[str, Any]:
    return {
        "result_id": str(result.id),
        "encounter_id": str(result.encounter_id),
        "service_code": result.service_code,
        "version": result.versions,
    }


def lab_result_view(*, scope: Scope, result_id: uuid.UUID) -> LabResult:
    """Read a result's current version (patient data): the read is audited."""
    return audited_read(
        scope=scope,
        permission="results.view",
        action="lab_result.viewed",
        load=lambda: lab_result_get(scope=scope, result_id=result_id),
        patient_of=lambda result: result.patient_id,
        detail=_audit_detail,
    )


def lab_result_versions_view(
    *, scope: Scope, result_id: uuid.UUID, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a result's versions, oldest first: the read is audited."""
    return audited_versions_page(
        scope=scope,
        permission="results.view",
        action="lab_result.versions_viewed",
        load=lambda: lab_result_get(scope=scope, result_id=result_id),
        versions=lambda: lab_result_versions(scope=scope, result_id=result_id),
        detail=_audit_detail,
        limit=limit,
        offset=offset,
    )


def lab_result_list_view(
    *, scope: Scope, filters: ResultFilters, limit: int, offset: int
) -> dict[str, Any]:
    """One page of results with their values: one audit record per patient on the page."""
    return audited_read_each(
        scope=scope,
        permission="results.view",
        action="lab_result.listed",
        load=lambda: paginate(
            lab_result_list(scope=scope, filters=filters), limit=limit, offset=offset
        ),
        reads=_reads_by_patient,
    )


def _reads_by_patient(page: dict[str, Any]) -> list[tuple[uuid.UUID | None, dict[str, Any]]]:
    by_patient: dict[uuid.UUID, list[str]] = {}
    for result in page["items"]:
        by_patient.setdefault(result.patient_id, []).append(str(result.id))
    return [(patient, {"result_ids": ids}) for patient, ids in by_patient.items()]
