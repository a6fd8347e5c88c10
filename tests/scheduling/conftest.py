"""Scheduling test helpers: schedules, patients and appointments made through the services.

Appointments are booked on a Monday-to-Friday 09:00-12:00 grid of 30-minute slots, far enough
ahead that "now" never catches up with them; tests of the past use dates before today.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hm_core.common.scope import scope_active
from hm_core.events.models import Event
from hm_core.iam.models import Facility
from hm_core.patients.models import Patient
from hm_core.patients.services import patient_register
from hm_core.scheduling import services
from hm_core.scheduling.events import WeeklyHours
from hm_core.scheduling.models import Appointment, Schedule
from hm_core.scheduling.selectors import appointment_get
from tests.conftest import World

# A Monday well in the future (UTC facility unless a test sets a zone).
MONDAY = date(2031, 1, 6)
WEEKDAYS_9_TO_12 = [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(5)]


def at(day: date, hhmm: str, tz: Any = UTC) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=tz).astimezone(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def set_zone(facility: Facility, zone: str) -> None:
    facility.time_zone = zone
    facility.save(update_fields=["time_zone"])


def make_schedule(
    world: World,
    *,
    practitioner: str = "doctor",
    weekly: list[dict[str, Any]] | None = None,
    slot_minutes: int = 30,
    valid_from: date = date(2020, 1, 1),
    valid_to: date | None = None,
    facility: Facility | None = None,
) -> Schedule:
    return services.schedule_create(
        scope=world.scope("admin", facility=facility),
        practitioner_id=world.users[practitioner].id,
        weekly=[WeeklyHours(**w) for w in weekly or WEEKDAYS_9_TO_12],
        slot_minutes=slot_minutes,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def make_patient(
    world: World, *, email: str = "ada@example.org", phone: str = "+15550100", name: str = "Ada"
) -> Patient:
    return patient_register(
        scope=world.scope("admin"),
        demographics={
            "full_name": f"{name} Lovelace",
            "mrn": f"MRN-{uuid.uuid4().hex[:12]}",
            "date_of_birth": date(1980, 5, 17),
            "gender": "F",
            "phone": phone,
            "email": email,
            "address": "",
        },
    )


def book(
    world: World,
    patient: Patient,
    start: datetime,
    *,
    practitioner: str = "doctor",
    end: datetime | None = None,
    role: str = "receptionist",
    facility: Facility | None = None,
) -> Appointment:
    return services.appointment_book(
        scope=world.scope(role, facility=facility),
        patient_id=patient.id,
        practitioner_id=world.users[practitioner].id,
        start=start,
        end=end,
        reason="Follow-up",
    )


def reload(world: World, appointment_id: uuid.UUID) -> Appointment:
    scope = world.scope("admin")
    with scope_active(scope):
        return appointment_get(scope=scope, appointment_id=appointment_id)


def event_types(world: World, stream_id: uuid.UUID) -> list[str]:
    return list(
        Event.objects.filter(tenant_id=world.tenant.id, stream_id=stream_id)
        .order_by("stream_version")
        .values_list("type", flat=True)
    )


def event_count(world: World) -> int:
    return Event.objects.filter(tenant_id=world.tenant.id).count()


def past_monday() -> date:
    today = datetime.now(tz=UTC).date()
    return today - timedelta(days=today.weekday() + 7)


def book_body_of(world: World, patient: Patient, start: datetime) -> dict[str, Any]:
    return {
        "patient": str(patient.id),
        "practitioner": str(world.users["doctor"].id),
        "start": iso(start),
        "reason": "Follow-up",
    }
