"""Contract §7: the laboratory — samples (list, read, receive, reject) and results (enter, read,
versions, verify, release, correct)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.schemas import PageParams
from hm_core.common.scope import scope_active
from hm_core.lab import services
from hm_core.lab.models import LabResult, Sample
from hm_core.lab.schemas import (
    LabResultCorrectIn,
    LabResultEnterIn,
    LabResultListFilters,
    LabResultOut,
    LabResultPageOut,
    LabResultVersionPageOut,
    SampleListFilters,
    SampleOut,
    SamplePageOut,
    SampleReceiveIn,
    SampleRejectIn,
)
from hm_core.lab.selectors import ResultFilters, SampleFilters, sample_get, sample_list

router = Router(tags=["lab"])


@router.get("/samples/", response={200: SamplePageOut, **ERRORS})
def sample_list_page(request: HttpRequest, filters: Query[SampleListFilters]) -> dict[str, Any]:
    """The facility's samples, oldest first: `?status=&order=&encounter=`."""
    scope = scope_of(request)
    scope.require("samples.view")
    with scope_active(scope):
        qs = sample_list(
            scope=scope, filters=SampleFilters(filters.status, filters.order, filters.encounter)
        )
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/samples/{sample_id}/", response={200: SampleOut, **ERRORS})
def sample_view(request: HttpRequest, sample_id: uuid.UUID, response: HttpResponse) -> Sample:
    """One sample."""
    scope = scope_of(request)
    scope.require("samples.view")
    with scope_active(scope):
        return with_etag(response, sample_get(scope=scope, sample_id=sample_id))


@router.post("/samples/{sample_id}/receive/", response={200: SampleOut, **ERRORS})
def sample_receive(
    request: HttpRequest, sample_id: uuid.UUID, payload: SampleReceiveIn, response: HttpResponse
) -> Sample:
    """PENDING → RECEIVED under a barcode unique in the facility (409 `duplicate_barcode`)."""
    sample = services.sample_receive(
        scope=scope_of(request),
        sample_id=sample_id,
        barcode=payload.barcode,
        received_at=payload.received_at,
        expected_version=if_match(request),
    )
    return with_etag(response, sample)


@router.post("/samples/{sample_id}/reject/", response={200: SampleOut, **ERRORS})
def sample_reject(
    request: HttpRequest, sample_id: uuid.UUID, payload: SampleRejectIn, response: HttpResponse
) -> Sample:
    """PENDING | RECEIVED → REJECTED; a recollection is requested and the team warned."""
    sample = services.sample_reject(
        scope=scope_of(request),
        sample_id=sample_id,
        reason=payload.reason,
        expected_version=if_match(request),
    )
    return with_etag(response, sample)


@router.post("/results/", response={201: LabResultOut, **ERRORS})
def lab_result_enter(
    request: HttpRequest, payload: LabResultEnterIn, response: HttpResponse
) -> Status[LabResult]:
    """Enter an order item's result (version 1, ENTERED); critical values flag it critical."""
    result = services.lab_result_enter(
        scope=scope_of(request),
        order_item_id=payload.order_item_id,
        result_payload=payload.result_payload,
        is_critical=payload.is_critical,
    )
    return Status(201, with_etag(response, result))


@router.get("/results/", response={200: LabResultPageOut, **ERRORS})
def lab_result_list_page(
    request: HttpRequest, filters: Query[LabResultListFilters]
) -> dict[str, Any]:
    """The facility's results with their values, `?encounter=&order=&status=`; audited."""
    return services.lab_result_list_view(
        scope=scope_of(request),
        filters=ResultFilters(filters.encounter, filters.order, filters.status),
        limit=filters.limit,
        offset=filters.offset,
    )


@router.get("/results/{result_id}/", response={200: LabResultOut, **ERRORS})
def lab_result_view(
    request: HttpRequest, result_id: uuid.UUID, response: HttpResponse
) -> LabResult:
    """The result with its current version; the read is audited."""
    result = services.lab_result_view(scope=scope_of(request), result_id=result_id)
    return with_etag(response, result)


@router.get("/results/{result_id}/versions/", response={200: LabResultVersionPageOut, **ERRORS})
def lab_result_versions_view(
    request: HttpRequest, result_id: uuid.UUID, page: Query[PageParams]
) -> dict[str, Any]:
    """Every reported version, oldest first, none ever changed; the read is audited."""
    return services.lab_result_versions_view(
        scope=scope_of(request), result_id=result_id, limit=page.limit, offset=page.offset
    )


@router.post("/results/{result_id}/verify/", response={200: LabResultOut, **ERRORS})
def lab_result_verify(
    request: HttpRequest, result_id: uuid.UUID, response: HttpResponse
) -> LabResult:
    """ENTERED → VERIFIED, not by the person who entered it (403 `same_user_verification`)."""
    result = services.lab_result_verify(
        scope=scope_of(request), result_id=result_id, expected_version=if_match(request)
    )
    return with_etag(response, result)


@router.post("/results/{result_id}/release/", response={200: LabResultOut, **ERRORS})
def lab_result_release(
    request: HttpRequest, result_id: uuid.UUID, response: HttpResponse
) -> LabResult:
    """VERIFIED → RELEASED to the clinicians; a critical result raises an alert."""
    result = services.lab_result_release(
        scope=scope_of(request), result_id=result_id, expected_version=if_match(request)
    )
    return with_etag(response, result)


@router.post("/results/{result_id}/correct/", response={201: LabResultOut, **ERRORS})
def lab_result_correct(
    request: HttpRequest, result_id: uuid.UUID, payload: LabResultCorrectIn, response: HttpResponse
) -> Status[LabResult]:
    """RELEASED | CORRECTED → a new CORRECTED version superseding the current one."""
    result = services.lab_result_correct(
        scope=scope_of(request),
        result_id=result_id,
        result_payload=payload.result_payload,
        reason=payload.reason,
        is_critical=payload.is_critical,
        expected_version=if_match(request),
    )
    return Status(201, with_etag(response, result))
