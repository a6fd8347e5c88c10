"""Scheduling read use-cases over the read models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Q, QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope
from hm_core.scheduling import domain
from hm_core.scheduling.events import WeeklyHours
from hm_core.scheduling.models import Appointment, Schedule


def schedule_get(*, scope: Scope, schedule_id: uuid.UUID) -> Schedule:
    schedule = Schedule.objects.for_scope(scope).filter(id=schedule_id).first()
    if schedule is None:
        raise NotFound(details={"resource": "schedule"})
    return schedule


def schedule_list(*, scope: Scope, practitioner: uuid.UUID | None) -> QuerySet[Schedule]:
    """The facility's schedules, newest first."""
    qs = Schedule.objects.for_scope(scope)
    if practitioner is not None:
        qs = qs.filter(practitioner_id=practitioner)
    return qs.order_by("-created_at", "id")


def schedule_specs(
    *, scope: Scope, practitioner_id: uuid.UUID, first: date, last: date
) -> list[domain.ScheduleSpec]:
    """The practitioner's schedules at the facility valid on some day of [first, last].

    The facility's filter is written out rather than `for_scope`: a patient's own account
    (contract §17) books on the practitioner's grid without being shown the schedule rows."""
    rows = (
        Schedule.objects.filter(tenant_id=scope.tenant_id, facility_id=scope.facility_id)
        .filter(practitioner_id=practitioner_id, valid_from__lte=last)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first))
        .order_by("created_at", "id")
    )
    return [
        domain.ScheduleSpec(
            weekly=tuple(WeeklyHours(**hours) for hours in row.weekly),
            slot_minutes=row.slot_minutes,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            time_zone=row.time_zone,
        )
        for row in rows
    ]


def appointment_get(*, scope: Scope, appointment_id: uuid.UUID) -> Appointment:
    """The facility's appointment, or 404 — also when another facility or tenant has it."""
    appointment = Appointment.objects.for_scope(scope).filter(id=appointment_id).first()
    if appointment is None:
        raise NotFound(details={"resource": "appointment"})
    return appointment


def appointment_find_by_encounter(*, scope: Scope, encounter_id: uuid.UUID) -> Appointment | None:
    return Appointment.objects.for_scope(scope).filter(encounter_id=encounter_id).first()


@dataclass(frozen=True)
class AppointmentFilters:
    practitioner: uuid.UUID | None = None
    patient: uuid.UUID | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None


def appointment_list(*, scope: Scope, filters: AppointmentFilters) -> QuerySet[Appointment]:
    """The facility's appointments overlapping [start, end), in time order."""
    qs = Appointment.objects.for_scope(scope)
    if filters.practitioner is not None:
        qs = qs.filter(practitioner_id=filters.practitioner)
    if filters.patient is not None:
        qs = qs.filter(patient_id=filters.patient)
    if filters.start is not None:
        qs = qs.filter(end_at__gt=filters.start)
    if filters.end is not None:
        qs = qs.filter(start_at__lt=filters.end)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by("start_at", "id")


def _active_overlapping(
    *, scope: Scope, start: datetime, end: datetime, exclude: uuid.UUID | None
) -> QuerySet[Appointment]:
    # Tenant-wide on purpose: a practitioner or a patient is one person at every facility.
    qs = Appointment.objects.filter(
        tenant_id=scope.tenant_id,
        status__in=domain.ACTIVE,
        start_at__lt=end,
        end_at__gt=start,
    )
    return qs.exclude(id=exclude) if exclude is not None else qs


def overlap_of(
    *,
    scope: Scope,
    practitioner_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> str | None:
    """ "practitioner" or "patient" if an active appointment of either overlaps, else None."""
    found = set(
        _active_overlapping(scope=scope, start=start, end=end, exclude=exclude)
        .filter(Q(practitioner_id=practitioner_id) | Q(patient_id=patient_id))
        .values_list("practitioner_id", flat=True)[:20]
    )
    if practitioner_id in found:
        return "practitioner"
    return "patient" if found else None


def busy_intervals(
    *, scope: Scope, practitioner_id: uuid.UUID, start: datetime, end: datetime
) -> list[domain.Interval]:
    """The practitioner's active appointments overlapping [start, end), at any facility."""
    rows = (
        _active_overlapping(scope=scope, start=start, end=end, exclude=None)
        .filter(practitioner_id=practitioner_id)
        .order_by("start_at")
        .values_list("start_at", "end_at")
    )
    return list(rows)
