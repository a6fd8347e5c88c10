"""The audited reads of lab results (patient data)."""

from __future__ import annotations

import uuid
from typing import Any

from hm_core.audit.services import phi_read_record
from hm_core.common.pagination import paginate
from hm_core.common.scope import Scope, scope_active
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
    scope.require("results.view")
    with scope_active(scope):
        result = lab_result_get(scope=scope, result_id=result_id)
        phi_read_record(
            scope=scope,
            patient_id=result.patient_id,
            action="lab_result.viewed",
            detail=_audit_detail(result),
        )
        return result


def lab_result_versions_view(
    *, scope: Scope, result_id: uuid.UUID, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a result's versions, oldest first: the read is audited."""
    scope.require("results.view")
    with scope_active(scope):
        result = lab_result_get(scope=scope, result_id=result_id)
        page = paginate(
            lab_result_versions(scope=scope, result_id=result_id), limit=limit, offset=offset
        )
        phi_read_record(
            scope=scope,
            patient_id=result.patient_id,
            action="lab_result.versions_viewed",
            detail={**_audit_detail(result), "versions": [v.version for v in page["items"]]},
        )
        return page


def lab_result_list_view(
    *, scope: Scope, filters: ResultFilters, limit: int, offset: int
) -> dict[str, Any]:
    """One page of results with their values: one audit record per patient on the page."""
    scope.require("results.view")
    with scope_active(scope):
        page = paginate(lab_result_list(scope=scope, filters=filters), limit=limit, offset=offset)
        by_patient: dict[uuid.UUID, list[str]] = {}
        for result in page["items"]:
            by_patient.setdefault(result.patient_id, []).append(str(result.id))
        for patient_id, result_ids in by_patient.items():
            phi_read_record(
                scope=scope,
                patient_id=patient_id,
                action="lab_result.listed",
                detail={"result_ids": result_ids},
            )
        return page
