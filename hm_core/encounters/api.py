"""Contract §4: encounters (OPD visits), their transitions and their timeline."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, set_etag, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.scope import scope_active
from hm_core.encounters import services
from hm_core.encounters.events import Diagnosis
from hm_core.encounters.models import Encounter, VitalsRecord
from hm_core.encounters.schemas import (
    EncounterAssessmentIn,
    EncounterCancelIn,
    EncounterCreateIn,
    EncounterListFilters,
    EncounterOut,
    EncounterPageOut,
    EncounterPlanIn,
    EncounterVitalsIn,
    VitalsOut,
)
from hm_core.encounters.selectors import encounter_list
from hm_core.patients.selectors import patients_hidden_from
from hm_core.timeline.schemas import TimelineOut, TimelineParams, timeline_out

router = Router(tags=["encounters"])


@router.post("/", response={201: EncounterOut, **ERRORS})
def encounter_create(
    request: HttpRequest, payload: EncounterCreateIn, response: HttpResponse
) -> Status[Encounter]:
    """Schedule an OPD visit for a patient (SCHEDULED)."""
    encounter = services.encounter_create(
        scope=scope_of(request),
        patient_id=payload.patient,
        reason=payload.reason,
        scheduled_at=payload.scheduled_at,
        visit_number=payload.visit_number,
    )
    return Status(201, with_etag(response, encounter))


@router.get("/", response={200: EncounterPageOut, **ERRORS})
def encounter_list_page(
    request: HttpRequest, filters: Query[EncounterListFilters]
) -> dict[str, Any]:
    """The facility's encounters, filtered by patient and status."""
    scope = scope_of(request)
    scope.require("encounters.view")
    with scope_active(scope):
        qs = encounter_list(scope=scope, patient=filters.patient, status=filters.status)
        qs = qs.exclude(patient_id__in=patients_hidden_from(scope=scope))  # contract §18
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/{encounter_id}/", response={200: EncounterOut, **ERRORS})
def encounter_view(
    request: HttpRequest, encounter_id: uuid.UUID, response: HttpResponse
) -> Encounter:
    """One encounter; the read is audited."""
    encounter = services.encounter_view(scope=scope_of(request), encounter_id=encounter_id)
    return with_etag(response, encounter)


@router.post("/{encounter_id}/check-in/", response={200: EncounterOut, **ERRORS})
def encounter_check_in(
    request: HttpRequest, encounter_id: uuid.UUID, response: HttpResponse
) -> Encounter:
    """SCHEDULED → CHECKED_IN; opens the nursing task to record vitals."""
    encounter = services.encounter_check_in(
        scope=scope_of(request), encounter_id=encounter_id, expected_version=if_match(request)
    )
    return with_etag(response, encounter)


@router.post("/{encounter_id}/vitals/", response={201: VitalsOut, **ERRORS})
def encounter_record_vitals(
    request: HttpRequest,
    encounter_id: uuid.UUID,
    payload: EncounterVitalsIn,
    response: HttpResponse,
) -> Status[VitalsRecord]:
    """Record vitals with their NEWS2 score; impossible values are refused (422)."""
    vitals = services.encounter_record_vitals(
        scope=scope_of(request),
        encounter_id=encounter_id,
        vitals=payload.to_vitals(),
        expected_version=if_match(request),
    )
    set_etag(response, vitals.encounter_version)  # type: ignore[attr-defined]
    return Status(201, vitals)


@router.post("/{encounter_id}/start-consult/", response={200: EncounterOut, **ERRORS})
def encounter_start_consult(
    request: HttpRequest, encounter_id: uuid.UUID, response: HttpResponse
) -> Encounter:
    """CHECKED_IN → IN_CONSULT."""
    encounter = services.encounter_start_consult(
        scope=scope_of(request), encounter_id=encounter_id, expected_version=if_match(request)
    )
    return with_etag(response, encounter)


@router.post("/{encounter_id}/assessment/", response={200: EncounterOut, **ERRORS})
def encounter_record_assessment(
    request: HttpRequest,
    encounter_id: uuid.UUID,
    payload: EncounterAssessmentIn,
    response: HttpResponse,
) -> Encounter:
    """Record the assessment (during the consultation)."""
    encounter = services.encounter_record_assessment(
        scope=scope_of(request),
        encounter_id=encounter_id,
        assessment=payload.assessment,
        diagnoses=[Diagnosis(code=d.code, system=d.system) for d in payload.diagnoses],
        expected_version=if_match(request),
    )
    return with_etag(response, encounter)


@router.post("/{encounter_id}/plan/", response={200: EncounterOut, **ERRORS})
def encounter_record_plan(
    request: HttpRequest, encounter_id: uuid.UUID, payload: EncounterPlanIn, response: HttpResponse
) -> Encounter:
    """Record the plan (during the consultation)."""
    encounter = services.encounter_record_plan(
        scope=scope_of(request),
        encounter_id=encounter_id,
        plan=payload.plan,
        expected_version=if_match(request),
    )
    return with_etag(response, encounter)


@router.post("/{encounter_id}/close/", response={200: EncounterOut, **ERRORS})
def encounter_close(
    request: HttpRequest, encounter_id: uuid.UUID, response: HttpResponse
) -> Encounter:
    """IN_CONSULT → CLOSED when every close-gate rule passes; else 409 `close_gate_failed`."""
    encounter = services.encounter_close(
        scope=scope_of(request), encounter_id=encounter_id, expected_version=if_match(request)
    )
    return with_etag(response, encounter)


@router.post("/{encounter_id}/cancel/", response={200: EncounterOut, **ERRORS})
def encounter_cancel(
    request: HttpRequest,
    encounter_id: uuid.UUID,
    payload: EncounterCancelIn,
    response: HttpResponse,
) -> Encounter:
    """SCHEDULED | CHECKED_IN → CANCELLED; open tasks of the visit are cancelled."""
    encounter = services.encounter_cancel(
        scope=scope_of(request),
        encounter_id=encounter_id,
        reason=payload.reason,
        expected_version=if_match(request),
    )
    return with_etag(response, encounter)


@router.get("/{encounter_id}/timeline/", response={200: TimelineOut, **ERRORS})
def encounter_timeline(
    request: HttpRequest, encounter_id: uuid.UUID, params: Query[TimelineParams]
) -> dict[str, Any]:
    """Everything attached to the encounter, oldest first, paged by `after=<position>`."""
    page = services.encounter_timeline_view(
        scope=scope_of(request), encounter_id=encounter_id, after=params.after, limit=params.limit
    )
    return timeline_out(page)
