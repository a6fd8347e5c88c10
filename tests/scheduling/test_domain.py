"""Schedule grids and the appointment state machine — no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.scheduling import domain
from hm_core.scheduling.errors import AppointmentNotStarted, OutsideSchedule, StartInPast
from hm_core.scheduling.events import WeeklyHours

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def spec(zone: str, *hours: tuple[int, str, str], slot: int = 30) -> domain.ScheduleSpec:
    return domain.ScheduleSpec(
        weekly=tuple(WeeklyHours(weekday=d, start=s, end=e) for d, s, e in hours),
        slot_minutes=slot,
        valid_from=date(2030, 1, 1),
        valid_to=None,
        time_zone=zone,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_hours_follow_the_facility_zone_across_the_spring_change():
    # given Monday 09:00-10:00 in Berlin
    berlin = spec(BERLIN, (0, "09:00", "10:00"))

    # when the grid is read the Monday before and the Monday after clocks go forward (30 Mar)
    winter = domain.slots(berlin, utc(2031, 3, 24), utc(2031, 3, 25))
    summer = domain.slots(berlin, utc(2031, 3, 31), utc(2031, 4, 1))

    # then 09:00 local is 08:00Z in winter and 07:00Z in summer
    assert winter == [
        (utc(2031, 3, 24, 8), utc(2031, 3, 24, 8, 30)),
        (utc(2031, 3, 24, 8, 30), utc(2031, 3, 24, 9)),
    ]
    assert summer == [
        (utc(2031, 3, 31, 7), utc(2031, 3, 31, 7, 30)),
        (utc(2031, 3, 31, 7, 30), utc(2031, 3, 31, 8)),
    ]


def test_a_window_spanning_the_spring_jump_has_no_slot_in_the_missing_hour():
    # given Sunday 01:00-04:00 in Berlin, hourly slots; on 30 Mar 2031 02:00 becomes 03:00
    night = spec(BERLIN, (6, "01:00", "04:00"), slot=60)

    found = domain.slots(night, utc(2031, 3, 29), utc(2031, 3, 31))

    # then two hours of real time, two slots: 01:00 CET and 03:00 CEST
    zone = ZoneInfo(BERLIN)
    assert [s.astimezone(zone).strftime("%H:%M %Z") for s, _ in found] == [
        "01:00 CET",
        "03:00 CEST",
    ]


def test_a_window_spanning_the_autumn_change_holds_the_repeated_hour_once_each():
    # given Sunday 00:00-03:00 in New York; on 2 Nov 2031 01:00-02:00 happens twice
    night = spec(NEW_YORK, (6, "00:00", "03:00"), slot=60)

    found = domain.slots(night, utc(2031, 11, 2), utc(2031, 11, 3))

    # then four real hours: 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST
    zone = ZoneInfo(NEW_YORK)
    assert [s.astimezone(zone).strftime("%H:%M %Z") for s, _ in found] == [
        "00:00 EDT",
        "01:00 EDT",
        "01:00 EST",
        "02:00 EST",
    ]
    assert all(e - s == timedelta(hours=1) for s, e in found)


def test_on_grid_needs_a_slot_boundary_inside_one_window():
    grid = [spec("UTC", (0, "09:00", "12:00"))]
    monday = date(2031, 1, 6)

    def on(h: int, m: int, minutes: int = 30) -> bool:
        start = datetime(monday.year, 1, 6, h, m, tzinfo=UTC)
        return domain.on_grid(grid, start, start + timedelta(minutes=minutes))

    assert on(9, 0) and on(11, 30) and on(10, 0, minutes=90)
    assert not on(9, 15)  # between boundaries
    assert not on(11, 30, minutes=60)  # runs past the window
    assert not on(8, 30)  # before the window
    assert not domain.on_grid(grid, utc(2031, 1, 7, 9), utc(2031, 1, 7, 9, 30))  # Tuesday


def test_validity_dates_bound_the_grid():
    bounded = domain.ScheduleSpec(
        weekly=(WeeklyHours(weekday=0, start="09:00", end="10:00"),),
        slot_minutes=60,
        valid_from=date(2031, 1, 13),
        valid_to=date(2031, 1, 20),
        time_zone="UTC",
    )
    found = domain.slots(bounded, utc(2031, 1, 1), utc(2031, 2, 1))
    assert [s.date() for s, _ in found] == [date(2031, 1, 13), date(2031, 1, 20)]


def test_create_schedule_refuses_overlapping_windows_and_windows_shorter_than_a_slot():
    args = {
        "schedule_id": uuid.uuid4(),
        "practitioner_id": uuid.uuid4(),
        "slot_minutes": 30,
        "valid_from": date(2031, 1, 1),
        "valid_to": None,
        "time_zone": "UTC",
    }
    with pytest.raises(ValidationFailed):
        domain.create_schedule(
            **args,
            weekly=[
                WeeklyHours(weekday=0, start="09:00", end="11:00"),
                WeeklyHours(weekday=0, start="10:30", end="12:00"),
            ],
        )
    with pytest.raises(ValidationFailed):
        domain.create_schedule(**args, weekly=[WeeklyHours(weekday=0, start="09:00", end="09:20")])
    with pytest.raises(ValidationFailed):
        domain.create_schedule(
            **{**args, "valid_to": date(2030, 1, 1)},
            weekly=[WeeklyHours(weekday=0, start="09:00", end="10:00")],
        )


def state(status: str = domain.BOOKED, start: datetime | None = None) -> domain.AppointmentState:
    start = start or utc(2031, 1, 6, 9)
    return domain.AppointmentState(
        appointment_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        practitioner_id=uuid.uuid4(),
        start=start,
        end=start + timedelta(minutes=30),
        status=status,
        encounter_id=uuid.uuid4() if status == domain.CHECKED_IN else None,
    )


def test_booking_refuses_the_past_and_off_grid_starts():
    grid = [spec("UTC", (0, "09:00", "12:00"))]
    common = {
        "appointment_id": uuid.uuid4(),
        "patient_id": uuid.uuid4(),
        "practitioner_id": uuid.uuid4(),
        "reason": "x",
    }
    with pytest.raises(StartInPast):
        domain.book(
            grid,
            **common,
            start=utc(2031, 1, 6, 9),
            end=utc(2031, 1, 6, 9, 30),
            now=utc(2031, 1, 6, 10),
        )
    with pytest.raises(OutsideSchedule):
        domain.book(
            grid,
            **common,
            start=utc(2031, 1, 6, 13),
            end=utc(2031, 1, 6, 13, 30),
            now=utc(2031, 1, 1),
        )
    with pytest.raises(ValidationFailed):
        domain.book(
            grid, **common, start=utc(2031, 1, 6, 9), end=utc(2031, 1, 6, 9), now=utc(2031, 1, 1)
        )
    [booked] = domain.book(
        grid, **common, start=utc(2031, 1, 6, 9), end=utc(2031, 1, 6, 10), now=utc(2031, 1, 1)
    )
    assert booked.event_type == "appointment.booked"


def test_the_state_machine():
    assert domain.cancel(state(), reason="x")[0].event_type == "appointment.cancelled"
    assert domain.check_in(state(), encounter_id=uuid.uuid4())[0].encounter_id
    assert domain.fulfill(state(domain.CHECKED_IN))[0].event_type == "appointment.fulfilled"
    for status in (domain.CHECKED_IN, domain.FULFILLED, domain.CANCELLED, domain.NO_SHOW):
        with pytest.raises(InvalidTransition):
            domain.cancel(state(status), reason="x")
        with pytest.raises(InvalidTransition):
            domain.check_in(state(status), encounter_id=uuid.uuid4())
    with pytest.raises(InvalidTransition):
        domain.fulfill(state(domain.BOOKED))


def test_no_show_only_after_the_start():
    booked = state(start=utc(2031, 1, 6, 9))
    with pytest.raises(AppointmentNotStarted):
        domain.mark_no_show(booked, now=utc(2031, 1, 6, 8, 59))
    [event] = domain.mark_no_show(booked, now=utc(2031, 1, 6, 9))
    assert event.event_type == "appointment.marked_no_show"
