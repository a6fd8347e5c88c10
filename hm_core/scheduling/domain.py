"""Schedules and the appointment state machine — pure Python, no Django.

    BOOKED → CHECKED_IN → FULFILLED (its encounter closed)
    BOOKED → CANCELLED | NO_SHOW

Weekly hours are wall-clock times in the facility's IANA zone. Each day's window is resolved to
UTC on that day (so 09:00 in Europe/Berlin is 08:00Z in winter and 07:00Z in summer), and the
slot grid steps through the real elapsed time of the window: on the night clocks jump, a window
spanning the jump is an hour shorter or longer, never a duplicated or missing wall-clock slot.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.scheduling.errors import AppointmentNotStarted, OutsideSchedule, StartInPast
from hm_core.scheduling.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentFulfilled,
    AppointmentMarkedNoShow,
    AppointmentRescheduled,
    ScheduleCreated,
    WeeklyHours,
)

BOOKED, CHECKED_IN, FULFILLED, CANCELLED, NO_SHOW = (
    "BOOKED",
    "CHECKED_IN",
    "FULFILLED",
    "CANCELLED",
    "NO_SHOW",
)
STATUSES = (BOOKED, CHECKED_IN, FULFILLED, CANCELLED, NO_SHOW)
ACTIVE = (BOOKED, CHECKED_IN)  # the statuses that hold their interval
Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class ScheduleSpec:
    """What the slot grid needs of a schedule."""

    weekly: tuple[WeeklyHours, ...]
    slot_minutes: int
    valid_from: date
    valid_to: date | None
    time_zone: str


def parse_hhmm(value: str) -> time:
    """ "09:30" → time(9, 30); "24:00" is not a time of day."""
    hours, _, minutes = value.partition(":")
    if len(value) != 5 or not (hours.isdigit() and minutes.isdigit()):
        raise ValueError("expected HH:MM")
    return time(int(hours), int(minutes))


def create_schedule(
    *,
    schedule_id: uuid.UUID,
    practitioner_id: uuid.UUID,
    weekly: Sequence[WeeklyHours],
    slot_minutes: int,
    valid_from: date,
    valid_to: date | None,
    time_zone: str,
) -> list[ScheduleCreated]:
    """A schedule whose windows each hold at least one slot and do not overlap on a weekday."""
    if valid_to is not None and valid_to < valid_from:
        raise ValidationFailed.field("valid_to", "must not be before valid_from")
    by_day: dict[int, list[tuple[time, time]]] = {}
    for i, hours in enumerate(weekly):
        start, end = parse_hhmm(hours.start), parse_hhmm(hours.end)
        if _minutes(end) - _minutes(start) < slot_minutes:
            raise ValidationFailed.field(f"weekly.{i}", "the window must hold at least one slot")
        by_day.setdefault(hours.weekday, []).append((start, end))
    for day, windows in by_day.items():
        windows.sort()
        if any(a[1] > b[0] for a, b in pairwise(windows)):
            raise ValidationFailed.field("weekly", f"windows of weekday {day} overlap")
    ordered = tuple(sorted(weekly, key=lambda h: (h.weekday, h.start)))
    return [
        ScheduleCreated(
            schedule_id=schedule_id,
            practitioner_id=practitioner_id,
            weekly=ordered,
            slot_minutes=slot_minutes,
            valid_from=valid_from,
            valid_to=valid_to,
            time_zone=time_zone,
        )
    ]


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def windows_on(spec: ScheduleSpec, day: date) -> list[Interval]:
    """The schedule's windows on a local calendar day, as UTC intervals."""
    if day < spec.valid_from or (spec.valid_to is not None and day > spec.valid_to):
        return []
    zone = ZoneInfo(spec.time_zone)
    return [
        (_utc(day, parse_hhmm(h.start), zone), _utc(day, parse_hhmm(h.end), zone))
        for h in spec.weekly
        if h.weekday == day.weekday()
    ]


def _utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    # A wall-clock time skipped by a spring-forward jump resolves with the offset before it
    # (fold=0), i.e. to the instant the clocks jumped; a repeated one, to its first occurrence.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_days(spec: ScheduleSpec, start: datetime, end: datetime) -> Iterator[date]:
    """Every local calendar day that [start, end) touches, in the schedule's zone."""
    zone = ZoneInfo(spec.time_zone)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def slots(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Interval]:
    """The grid's slots starting within [start, end), in time order."""
    step = timedelta(minutes=spec.slot_minutes)
    found: list[Interval] = []
    for day in local_days(spec, start, end):
        for opens, closes in windows_on(spec, day):
            at = opens
            while at + step <= closes:
                if start <= at < end:
                    found.append((at, at + step))
                at += step
    return sorted(found)


def on_grid(specs: Sequence[ScheduleSpec], start: datetime, end: datetime) -> bool:
    """Whether [start, end) starts on a slot boundary of one window and ends inside it."""
    for spec in specs:
        step = timedelta(minutes=spec.slot_minutes)
        for day in local_days(spec, start, start):
            for opens, closes in windows_on(spec, day):
                if opens <= start and end <= closes and (start - opens) % step == timedelta(0):
                    return True
    return False


@dataclass(frozen=True)
class AppointmentState:
    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    practitioner_id: uuid.UUID
    start: datetime
    end: datetime
    status: str
    encounter_id: uuid.UUID | None = None

    def ids(self) -> dict[str, object]:
        return {
            "appointment_id": self.appointment_id,
            "patient_id": self.patient_id,
            "practitioner_id": self.practitioner_id,
        }


def check_interval(
    specs: Sequence[ScheduleSpec], *, start: datetime, end: datetime, now: datetime
) -> None:
    """An interval one may book: in the future, on the practitioner's grid, not empty."""
    if start < now:
        raise StartInPast(details=[{"field": "start", "message": "is in the past"}])
    if not on_grid(specs, start, end):
        raise OutsideSchedule(details=[{"field": "start", "message": "not on the schedule"}])
    if end <= start:
        raise ValidationFailed.field("end", "must be after start")


def default_end(specs: Sequence[ScheduleSpec], start: datetime) -> datetime:
    """One slot after `start` on the grid holding it (`start` itself when none does)."""
    for spec in specs:
        slot = timedelta(minutes=spec.slot_minutes)
        if on_grid([spec], start, start + slot):
            return start + slot
    return start


def book(
    specs: Sequence[ScheduleSpec],
    *,
    appointment_id: uuid.UUID,
    patient_id: uuid.UUID,
    practitioner_id: uuid.UUID,
    start: datetime,
    end: datetime,
    reason: str,
    now: datetime,
) -> list[AppointmentBooked]:
    """Book [start, end); overlaps are checked against the store by the caller."""
    check_interval(specs, start=start, end=end, now=now)
    return [
        AppointmentBooked(
            appointment_id=appointment_id,
            patient_id=patient_id,
            practitioner_id=practitioner_id,
            start=start,
            end=end,
            reason=reason,
        )
    ]


def _require(state: AppointmentState, *allowed: str) -> None:
    if state.status not in allowed:
        raise InvalidTransition(details={"status": state.status})


def reschedule(
    state: AppointmentState,
    specs: Sequence[ScheduleSpec],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[AppointmentRescheduled]:
    """Move a booked appointment to another interval, by the same rules as a booking."""
    _require(state, BOOKED)
    check_interval(specs, start=start, end=end, now=now)
    return [
        AppointmentRescheduled(
            **state.ids(),  # type: ignore[arg-type]
            start=start,
            end=end,
            previous_start=state.start,
            previous_end=state.end,
        )
    ]


def cancel(state: AppointmentState, *, reason: str) -> list[AppointmentCancelled]:
    """Only a booked appointment can be cancelled (an arrived patient has an encounter)."""
    _require(state, BOOKED)
    return [AppointmentCancelled(**state.ids(), start=state.start, end=state.end, reason=reason)]  # type: ignore[arg-type]


def mark_no_show(state: AppointmentState, *, now: datetime) -> list[AppointmentMarkedNoShow]:
    """A booked patient who did not come, once the appointment has started."""
    _require(state, BOOKED)
    if now < state.start:
        raise AppointmentNotStarted()
    return [AppointmentMarkedNoShow(**state.ids(), start=state.start, end=state.end)]  # type: ignore[arg-type]


def check_in(state: AppointmentState, *, encounter_id: uuid.UUID) -> list[AppointmentCheckedIn]:
    """The booked patient arrived; `encounter_id` names the encounter created for the visit."""
    _require(state, BOOKED)
    return [
        AppointmentCheckedIn(
            **state.ids(),  # type: ignore[arg-type]
            start=state.start,
            end=state.end,
            encounter_id=encounter_id,
        )
    ]


def fulfill(state: AppointmentState) -> list[AppointmentFulfilled]:
    """The encounter of a checked-in appointment closed."""
    _require(state, CHECKED_IN)
    assert state.encounter_id is not None  # noqa: S101 - set by check-in
    return [
        AppointmentFulfilled(
            **state.ids(),  # type: ignore[arg-type]
            start=state.start,
            end=state.end,
            encounter_id=state.encounter_id,
        )
    ]
