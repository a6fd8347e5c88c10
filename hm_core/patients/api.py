"""Contract §3: patients — register, list, detail, patch, soft delete, restore, timeline."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from hm_core.common.http import if_match, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.schemas import ErrorOut
from hm_core.common.scope import Scope, scope_active
from hm_core.patients import services
from hm_core.patients.models import BreakGlassGrant, Patient, PatientConsent
from hm_core.patients.schemas import (
    BreakGlassIn,
    BreakGlassOut,
    ConsentOut,
    ConsentPageOut,
    ConsentRecordIn,
    PatientListFilters,
    PatientOut,
    PatientPageOut,
    PatientRegisterIn,
    PatientUpdateIn,
)
from hm_core.patients.selectors import PatientFilters, patient_list
from hm_core.timeline.schemas import TimelineOut, TimelineParams, timeline_out

router = Router(tags=["patients"])
ERRORS: dict[int, Any] = dict.fromkeys((400, 401, 403, 404, 409, 412, 422), ErrorOut)


def _scope(request: HttpRequest) -> Scope:
    return request.auth  # type: ignore[attr-defined, no-any-return]


def _with_etag(response: HttpResponse, patient: Patient) -> Patient:
    return with_etag(response, patient)


@router.post("/", response={201: PatientOut, **ERRORS})
def patient_register(
    request: HttpRequest, payload: PatientRegisterIn, response: HttpResponse
) -> Status[Patient]:
    """Register a patient at the caller's facility; the MRN must be new to the tenant."""
    patient = services.patient_register(scope=_scope(request), demographics=payload.demographics())
    return Status(201, _with_etag(response, patient))


@router.get("/", response={200: PatientPageOut, **ERRORS})
def patient_list_page(request: HttpRequest, filters: Query[PatientListFilters]) -> dict[str, Any]:
    """Search the tenant's patients by name, MRN, phone or e-mail; filter by gender or e-mail."""
    scope = _scope(request)
    scope.require("patients.view")
    with scope_active(scope):
        criteria = filters.model_dump(
            include={"search", "gender", "ordering", "email", "phone", "national_id"}
        )
        qs = patient_list(scope=scope, filters=PatientFilters(**criteria))
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/{patient_id}/", response={200: PatientOut, **ERRORS})
def patient_view(request: HttpRequest, patient_id: uuid.UUID, response: HttpResponse) -> Patient:
    """One patient; the read is recorded in the audit trail."""
    patient = services.patient_view(scope=_scope(request), patient_id=patient_id)
    return _with_etag(response, patient)


@router.patch("/{patient_id}/", response={200: PatientOut, **ERRORS})
def patient_update(
    request: HttpRequest, patient_id: uuid.UUID, payload: PatientUpdateIn, response: HttpResponse
) -> Patient:
    """Change some demographics; honours If-Match."""
    patient = services.patient_update(
        scope=_scope(request),
        patient_id=patient_id,
        changes=payload.changes(),
        expected_version=if_match(request),
    )
    return _with_etag(response, patient)


@router.delete("/{patient_id}/", response={204: None, **ERRORS})
def patient_delete(request: HttpRequest, patient_id: uuid.UUID) -> Status[None]:
    """Soft delete: the patient leaves lists; data and events remain."""
    services.patient_delete(
        scope=_scope(request), patient_id=patient_id, expected_version=if_match(request)
    )
    return Status(204, None)


@router.post("/{patient_id}/restore/", response={200: PatientOut, **ERRORS})
def patient_restore(request: HttpRequest, patient_id: uuid.UUID, response: HttpResponse) -> Patient:
    """Restore a soft-deleted patient (administrators)."""
    patient = services.patient_restore(scope=_scope(request), patient_id=patient_id)
    return _with_etag(response, patient)


@router.get("/{patient_id}/timeline/", response={200: TimelineOut, **ERRORS})
def patient_timeline(
    request: HttpRequest, patient_id: uuid.UUID, params: Query[TimelineParams]
) -> dict[str, Any]:
    """Everything about the patient, oldest first, paged by `after=<position>`; audited."""
    page = services.patient_timeline_view(
        scope=_scope(request), patient_id=patient_id, after=params.after, limit=params.limit
    )
    return timeline_out(page)


@router.post("/{patient_id}/consents/", response={201: ConsentOut, **ERRORS})
def patient_consent_record(
    request: HttpRequest, patient_id: uuid.UUID, payload: ConsentRecordIn
) -> Status[PatientConsent]:
    """Record a consent (treatment, data_sharing, research: permit or deny) over a period."""
    consent = services.patient_consent_record(
        scope=_scope(request), patient_id=patient_id, consent=payload.model_dump()
    )
    return Status(201, consent)


@router.get("/{patient_id}/consents/", response={200: ConsentPageOut, **ERRORS})
def patient_consents_view(request: HttpRequest, patient_id: uuid.UUID) -> dict[str, Any]:
    """The patient's consents in the order recorded; the read is audited."""
    consents = services.patient_consents_view(scope=_scope(request), patient_id=patient_id)
    return {"items": consents, "count": len(consents)}


@router.post("/{patient_id}/break-glass/", response={200: BreakGlassOut, **ERRORS})
def patient_break_glass(
    request: HttpRequest, patient_id: uuid.UUID, payload: BreakGlassIn
) -> BreakGlassGrant:
    """One hour of access to a confidential patient, with a reason: administrators alerted."""
    return services.patient_break_glass(
        scope=_scope(request), patient_id=patient_id, reason=payload.reason
    )
