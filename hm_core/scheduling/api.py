"""Contract §14: schedules, free slots and appointments."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.scope import scope_active
from hm_core.scheduling import services
from hm_core.scheduling.events import WeeklyHours
from hm_core.scheduling.models import Appointment, Schedule
from hm_core.scheduling.schemas import (
    AppointmentBookIn,
    AppointmentCancelIn,
    AppointmentListFilters,
    AppointmentOut,
    AppointmentPageOut,
    AppointmentRescheduleIn,
    ScheduleCreateIn,
    ScheduleListFilters,
    ScheduleOut,
    SchedulePageOut,
    SlotListFilters,
    SlotOut,
)
from hm_core.scheduling.selectors import AppointmentFilters, appointment_list, schedule_list

schedules_router = Router(tags=["scheduling"])
slots_router = Router(tags=["scheduling"])
router = Router(tags=["scheduling"])  # /api/appointments/


@schedules_router.post("/", response={201: ScheduleOut, **ERRORS})
def schedule_create(request: HttpRequest, payload: ScheduleCreateIn) -> Status[Schedule]:
    """A practitioner's weekly hours in the facility's time zone (admin, receptionist)."""
    schedule = services.schedule_create(
        scope=scope_of(request),
        practitioner_id=payload.practitioner,
        weekly=[WeeklyHours(**hours.model_dump()) for hours in payload.weekly],
        slot_minutes=payload.slot_minutes,
        valid_from=payload.valid_from,
        valid_to=payload.valid_to,
    )
    return Status(201, schedule)


@schedules_router.get("/", response={200: SchedulePageOut, **ERRORS})
def schedule_list_page(request: HttpRequest, filters: Query[ScheduleListFilters]) -> Any:
    """The facility's schedules: `?practitioner=`."""
    scope = scope_of(request)
    scope.require("schedules.view")
    with scope_active(scope):
        qs = schedule_list(scope=scope, practitioner=filters.practitioner)
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@slots_router.get("/", response={200: list[SlotOut], **ERRORS})
def slot_list(request: HttpRequest, filters: Query[SlotListFilters]) -> list[dict[str, Any]]:
    """Free slots of a practitioner: `?practitioner=&from=&to=` (dates or timestamps)."""
    scope = scope_of(request)
    free = services.slot_list(
        scope=scope,
        practitioner_id=filters.practitioner,
        start=services.instant(scope, filters.from_),
        end=services.instant(scope, filters.to, end=True),
    )
    return [{"start": s, "end": e, "practitioner": filters.practitioner} for s, e in free]


@router.post("/", response={201: AppointmentOut, **ERRORS})
def appointment_book(
    request: HttpRequest, payload: AppointmentBookIn, response: HttpResponse
) -> Status[Appointment]:
    """Book a free slot (BOOKED); 409 `slot_unavailable` / `patient_double_booked`."""
    appointment = services.appointment_book(
        scope=scope_of(request),
        patient_id=payload.patient,
        practitioner_id=payload.practitioner,
        start=payload.start,
        end=payload.end,
        reason=payload.reason,
    )
    return Status(201, with_etag(response, appointment))


@router.get("/", response={200: AppointmentPageOut, **ERRORS})
def appointment_list_page(request: HttpRequest, filters: Query[AppointmentListFilters]) -> Any:
    """The facility's appointments: `?practitioner=&patient=&from=&to=&status=`."""
    scope = scope_of(request)
    scope.require("appointments.view")
    start = services.instant(scope, filters.from_) if filters.from_ else None
    end = services.instant(scope, filters.to, end=True) if filters.to else None
    with scope_active(scope):
        qs = appointment_list(
            scope=scope,
            filters=AppointmentFilters(
                filters.practitioner, filters.patient, start, end, filters.status
            ),
        )
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/{appointment_id}/", response={200: AppointmentOut, **ERRORS})
def appointment_view(
    request: HttpRequest, appointment_id: uuid.UUID, response: HttpResponse
) -> Appointment:
    """One appointment (the read is audited)."""
    appointment = services.appointment_view(scope=scope_of(request), appointment_id=appointment_id)
    return with_etag(response, appointment)


@router.post("/{appointment_id}/cancel/", response={200: AppointmentOut, **ERRORS})
def appointment_cancel(
    request: HttpRequest,
    appointment_id: uuid.UUID,
    payload: AppointmentCancelIn,
    response: HttpResponse,
) -> Appointment:
    """BOOKED → CANCELLED; the slot frees and the reminder is withdrawn."""
    appointment = services.appointment_cancel(
        scope=scope_of(request),
        appointment_id=appointment_id,
        reason=payload.reason,
        expected_version=if_match(request),
    )
    return with_etag(response, appointment)


@router.post("/{appointment_id}/reschedule/", response={200: AppointmentOut, **ERRORS})
def appointment_reschedule(
    request: HttpRequest,
    appointment_id: uuid.UUID,
    payload: AppointmentRescheduleIn,
    response: HttpResponse,
) -> Appointment:
    """Move a booked appointment (same rules as booking); the old slot frees at once."""
    appointment = services.appointment_reschedule(
        scope=scope_of(request),
        appointment_id=appointment_id,
        start=payload.start,
        end=payload.end,
        expected_version=if_match(request),
    )
    return with_etag(response, appointment)


@router.post("/{appointment_id}/no-show/", response={200: AppointmentOut, **ERRORS})
def appointment_mark_no_show(
    request: HttpRequest, appointment_id: uuid.UUID, response: HttpResponse
) -> Appointment:
    """BOOKED → NO_SHOW, only after the start (422 `appointment_not_started`)."""
    appointment = services.appointment_mark_no_show(
        scope=scope_of(request), appointment_id=appointment_id, expected_version=if_match(request)
    )
    return with_etag(response, appointment)


@router.post("/{appointment_id}/check-in/", response={200: AppointmentOut, **ERRORS})
def appointment_check_in(
    request: HttpRequest, appointment_id: uuid.UUID, response: HttpResponse
) -> Appointment:
    """BOOKED → CHECKED_IN; creates and checks in its encounter (`encounter` in the body)."""
    appointment = services.appointment_check_in(
        scope=scope_of(request), appointment_id=appointment_id, expected_version=if_match(request)
    )
    return with_etag(response, appointment)
