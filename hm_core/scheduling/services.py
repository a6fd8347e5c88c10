"""Scheduling write use-cases: schedules, and one service per appointment transition.

Overlapping active appointments are refused twice: by an overlap check inside the command's
transaction (the common case's clear 409), and by the database for the race that check cannot
see — PostgreSQL's exclusion constraints (a concurrent booking that committed first makes this
insert fail), SQLite's write lock taken at BEGIN (the check and the insert run alone).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError

from hm_core.audit.services import audited_read
from hm_core.common.errors import NotFound, ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.events.unit_of_work import command_block
from hm_core.iam.selectors import facility_time_zone, user_has_role_in_facility
from hm_core.patients.selectors import patient_get
from hm_core.scheduling import domain
from hm_core.scheduling.errors import PatientDoubleBooked, SlotUnavailable
from hm_core.scheduling.events import WeeklyHours
from hm_core.scheduling.models import PATIENT_OVERLAP, PRACTITIONER_OVERLAP, Appointment, Schedule
from hm_core.scheduling.selectors import (
    appointment_get,
    busy_intervals,
    overlap_of,
    schedule_get,
    schedule_specs,
)

PRACTITIONER_ROLES = ("doctor", "nurse")
MAX_SLOT_RANGE = timedelta(days=62)


def schedule_create(
    *,
    scope: Scope,
    practitioner_id: uuid.UUID,
    weekly: Sequence[WeeklyHours],
    slot_minutes: int,
    valid_from: date,
    valid_to: date | None,
) -> Schedule:
    """Weekly hours of a doctor or nurse of the facility, in the facility's time zone."""
    scope.require("schedules.manage")
    _require_practitioner(scope, practitioner_id)
    schedule_id = uuid.uuid4()
    events = domain.create_schedule(
        schedule_id=schedule_id,
        practitioner_id=practitioner_id,
        weekly=weekly,
        slot_minutes=slot_minutes,
        valid_from=valid_from,
        valid_to=valid_to,
        time_zone=facility_time_zone(tenant_id=scope.tenant_id, facility_id=scope.facility_id),
    )
    with scope_active(scope), command_block():
        publish(
            scope=scope,
            stream=StreamRef("schedule", schedule_id),
            expected_version=0,
            events=events,
        )
        return schedule_get(scope=scope, schedule_id=schedule_id)


def _require_practitioner(scope: Scope, practitioner_id: uuid.UUID) -> None:
    if not user_has_role_in_facility(
        user_id=practitioner_id,
        tenant_id=scope.tenant_id,
        facility_id=scope.facility_id,
        roles=PRACTITIONER_ROLES,
    ):
        raise ValidationFailed.field("practitioner", "is not a doctor or nurse of this facility")


def instant(scope: Scope, value: date | datetime, *, end: bool = False) -> datetime:
    """A timestamp as given, or a date as the facility's local midnight starting it (as
    `end`, the midnight ending it: `to=2026-03-01` takes in the whole of that day)."""
    if isinstance(value, datetime):
        return value
    zone = ZoneInfo(facility_time_zone(tenant_id=scope.tenant_id, facility_id=scope.facility_id))
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def slot_list(
    *, scope: Scope, practitioner_id: uuid.UUID, start: datetime, end: datetime
) -> list[domain.Interval]:
    """Free slots of the practitioner's grid starting in [start, end), none in the past."""
    scope.require("schedules.view")
    if end <= start:
        raise ValidationFailed.field("to", "must be after from")
    if end - start > MAX_SLOT_RANGE:
        raise ValidationFailed.field("to", "the range may span at most 62 days")
    start = max(start, utcnow())
    with scope_active(scope):
        specs = _specs(scope, practitioner_id, start, end)
        busy = busy_intervals(
            scope=scope, practitioner_id=practitioner_id, start=start, end=end + timedelta(days=1)
        )
    grid = sorted({slot for spec in specs for slot in domain.slots(spec, start, end)})
    return [(s, e) for s, e in grid if not any(b0 < e and s < b1 for b0, b1 in busy)]


def _specs(
    scope: Scope, practitioner_id: uuid.UUID, start: datetime, end: datetime
) -> list[domain.ScheduleSpec]:
    # A day either side: local dates differ from UTC dates by up to 14 hours.
    return schedule_specs(
        scope=scope,
        practitioner_id=practitioner_id,
        first=start.date() - timedelta(days=1),
        last=end.date() + timedelta(days=1),
    )


def appointment_book(
    *,
    scope: Scope,
    patient_id: uuid.UUID,
    practitioner_id: uuid.UUID,
    start: datetime,
    end: datetime | None,
    reason: str,
) -> Appointment:
    """Book a free interval on the practitioner's grid (`end` defaults to one slot); a
    patient's own account books for itself only (anyone else: 404, as if there were none)."""
    scope.require("appointments.book")
    if scope.principal.restricted and patient_id != scope.principal.patient_id:
        raise NotFound(details={"resource": "patient"})
    appointment_id = uuid.uuid4()
    with _no_overlap(), scope_active(scope), command_block():
        patient_get(scope=scope, patient_id=patient_id)
        specs = _specs(scope, practitioner_id, start, start)
        end = end or domain.default_end(specs, start)
        events = domain.book(
            specs,
            appointment_id=appointment_id,
            patient_id=patient_id,
            practitioner_id=practitioner_id,
            start=start,
            end=end,
            reason=reason,
            now=utcnow(),
        )
        _check_free(scope, practitioner_id, patient_id, start, end, exclude=None)
        stream = StreamRef("appointment", appointment_id)
        publish(scope=scope, stream=stream, expected_version=0, events=events)
        return appointment_get(scope=scope, appointment_id=appointment_id)


def _check_free(
    scope: Scope,
    practitioner_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    exclude: uuid.UUID | None,
) -> None:
    taken = overlap_of(
        scope=scope,
        practitioner_id=practitioner_id,
        patient_id=patient_id,
        start=start,
        end=end,
        exclude=exclude,
    )
    if taken == "practitioner":
        raise SlotUnavailable()
    if taken == "patient":
        raise PatientDoubleBooked()


@contextmanager
def _no_overlap() -> Iterator[None]:
    """Turn a lost race (an exclusion constraint refusing the row) into the same 409s."""
    try:
        yield
    except IntegrityError as exc:
        if PRACTITIONER_OVERLAP in str(exc):
            raise SlotUnavailable() from exc
        if PATIENT_OVERLAP in str(exc):
            raise PatientDoubleBooked() from exc
        raise


def state_of(appointment: Appointment) -> domain.AppointmentState:
    return domain.AppointmentState(
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,
        practitioner_id=appointment.practitioner_id,
        start=appointment.start_at,
        end=appointment.end_at,
        status=appointment.status,
        encounter_id=appointment.encounter_id,
    )


def _transition(
    *,
    scope: Scope,
    permission: str,
    appointment_id: uuid.UUID,
    expected_version: int | None,
    decide: Callable[[domain.AppointmentState], Sequence[DomainEvent]],
) -> Appointment:
    with _no_overlap():
        return run_command(
            scope=scope,
            permission=permission,
            stream_type="appointment",
            load=lambda: appointment_get(scope=scope, appointment_id=appointment_id),
            decide=lambda appointment: decide(state_of(appointment)),
            expected_version=expected_version,
        )


def appointment_reschedule(
    *,
    scope: Scope,
    appointment_id: uuid.UUID,
    start: datetime,
    end: datetime | None,
    expected_version: int | None = None,
) -> Appointment:
    """Move a booked appointment (same rules as booking); its old interval frees at once."""

    def decide(state: domain.AppointmentState) -> Sequence[DomainEvent]:
        specs = _specs(scope, state.practitioner_id, start, start)
        new_end = end or domain.default_end(specs, start)
        events = domain.reschedule(state, specs, start=start, end=new_end, now=utcnow())
        _check_free(
            scope,
            state.practitioner_id,
            state.patient_id,
            start,
            new_end,
            exclude=state.appointment_id,
        )
        return events

    return _transition(
        scope=scope,
        permission="appointments.manage",
        appointment_id=appointment_id,
        expected_version=expected_version,
        decide=decide,
    )


def appointment_cancel(
    *, scope: Scope, appointment_id: uuid.UUID, reason: str, expected_version: int | None = None
) -> Appointment:
    """Cancel a booked appointment; its interval and its reminder are withdrawn."""
    return _transition(
        scope=scope,
        permission="appointments.manage",
        appointment_id=appointment_id,
        expected_version=expected_version,
        decide=lambda s: domain.cancel(s, reason=reason),
    )


def appointment_mark_no_show(
    *, scope: Scope, appointment_id: uuid.UUID, expected_version: int | None = None
) -> Appointment:
    """The booked patient did not come (only once the appointment has started)."""
    return _transition(
        scope=scope,
        permission="appointments.manage",
        appointment_id=appointment_id,
        expected_version=expected_version,
        decide=lambda s: domain.mark_no_show(s, now=utcnow()),
    )


def appointment_check_in(
    *, scope: Scope, appointment_id: uuid.UUID, expected_version: int | None = None
) -> Appointment:
    """The patient arrived: a policy creates and checks in the encounter the event names."""
    encounter_id = uuid.uuid4()
    return _transition(
        scope=scope,
        permission="appointments.check_in",
        appointment_id=appointment_id,
        expected_version=expected_version,
        decide=lambda s: domain.check_in(s, encounter_id=encounter_id),
    )


def appointment_fulfill(*, scope: Scope, appointment_id: uuid.UUID) -> Appointment:
    """The appointment's encounter closed (called by the policy on `encounter.closed`)."""
    return _transition(
        scope=scope,
        permission="appointments.manage",
        appointment_id=appointment_id,
        expected_version=None,
        decide=domain.fulfill,
    )


def appointment_view(*, scope: Scope, appointment_id: uuid.UUID) -> Appointment:
    """Read one appointment (who sees whom, and why): the read is audited."""
    return audited_read(
        scope=scope,
        permission="appointments.view",
        action="appointment.viewed",
        load=lambda: appointment_get(scope=scope, appointment_id=appointment_id),
        patient_of=lambda appointment: appointment.patient_id,
        detail=lambda appointment: {"appointment_id": str(appointment.id)},
    )
