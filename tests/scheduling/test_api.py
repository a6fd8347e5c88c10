"""Contract §14 over HTTP: schedules, slots, appointments, every error code."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import scope_active
from hm_core.encounters.models import Encounter
from hm_core.encounters.services import (
    encounter_close,
    encounter_record_assessment,
    encounter_record_plan,
    encounter_record_vitals,
    encounter_start_consult,
)
from hm_core.scheduling.models import Appointment
from hm_core.timeline.models import TimelineEntry
from tests.encounters.conftest import NORMAL_VITALS, as_vitals
from tests.scheduling.conftest import (
    MONDAY,
    at,
    book,
    event_count,
    event_types,
    iso,
    make_patient,
    make_schedule,
    reload,
    set_zone,
)


def book_body(world, patient, start, **extra):
    return {
        "patient": str(patient.id),
        "practitioner": str(world.users["doctor"].id),
        "start": iso(start),
        "reason": "Follow-up",
        **extra,
    }


def err(response) -> str:
    return response.json()["error"]["code"]


# --- schedules ---------------------------------------------------------------------------


def test_receptionist_creates_a_schedule_in_the_facility_zone(world):
    # given a facility in Berlin
    set_zone(world.main, "Europe/Berlin")
    body = {
        "practitioner": str(world.users["doctor"].id),
        "weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"}],
        "slot_minutes": 20,
        "valid_from": "2031-01-01",
    }

    # when
    response = world.api("receptionist").post("/api/schedules/", body)

    # then
    assert response.status_code == 201, response.json()
    schedule = response.json()
    assert schedule["time_zone"] == "Europe/Berlin"
    assert schedule["practitioner"] == str(world.users["doctor"].id)
    assert schedule["weekly"] == body["weekly"] and schedule["valid_to"] is None
    assert event_types(world, schedule["id"]) == ["schedule.created"]
    listed = world.api("doctor").get(
        "/api/schedules/", {"practitioner": str(world.users["doctor"].id)}
    )
    assert listed.json()["count"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"slot_minutes": 4},
        {"slot_minutes": 241},
        {"weekly": [{"weekday": 7, "start": "09:00", "end": "12:00"}]},
        {"weekly": [{"weekday": 0, "start": "12:00", "end": "09:00"}]},
        {"weekly": [{"weekday": 0, "start": "9:00", "end": "12:00"}]},
        {"weekly": []},
        {"valid_to": "2030-01-01"},
        {"unknown": 1},
    ],
)
def test_invalid_schedules_are_422_and_write_nothing(world, change):
    body = {
        "practitioner": str(world.users["doctor"].id),
        "weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"}],
        "slot_minutes": 30,
        "valid_from": "2031-01-01",
        **change,
    }
    before = event_count(world)
    response = world.api("admin").post("/api/schedules/", body)
    assert response.status_code == 422, response.json()
    assert err(response) == "validation_error"
    assert event_count(world) == before


def test_the_practitioner_must_be_a_doctor_or_nurse_of_the_facility(world):
    body = {
        "practitioner": str(world.users["lab_tech"].id),
        "weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"}],
        "slot_minutes": 30,
        "valid_from": "2031-01-01",
    }
    response = world.api("admin").post("/api/schedules/", body)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "practitioner"
    nurse = world.api("admin").post(
        "/api/schedules/", {**body, "practitioner": str(world.users["nurse"].id)}
    )
    assert nurse.status_code == 201


def test_only_admins_and_receptionists_create_schedules(world):
    body = {
        "practitioner": str(world.users["doctor"].id),
        "weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"}],
        "slot_minutes": 30,
        "valid_from": "2031-01-01",
    }
    for role in ("doctor", "nurse", "billing_clerk"):
        response = world.api(role).post("/api/schedules/", body)
        assert response.status_code == 403, role
        assert err(response) == "permission_denied"


# --- slots ---------------------------------------------------------------------------------


def test_slots_are_the_free_grid_in_utc(world):
    # given a Berlin facility, Monday 09:00-10:00, 30 min, and one slot taken
    set_zone(world.main, "Europe/Berlin")
    make_schedule(world, weekly=[{"weekday": 0, "start": "09:00", "end": "10:00"}])
    berlin = MONDAY  # 2031-01-06: winter, UTC+1
    book(world, make_patient(world), datetime(2031, 1, 6, 8, 30, tzinfo=UTC))

    # when the day is asked for as a date
    response = world.api("receptionist").get(
        "/api/slots/",
        {"practitioner": str(world.users["doctor"].id), "from": str(berlin), "to": str(berlin)},
    )

    # then 09:00 local = 08:00Z is free, 09:30 local is taken
    assert response.status_code == 200, response.json()
    assert response.json() == [
        {
            "start": "2031-01-06T08:00:00Z",
            "end": "2031-01-06T08:30:00Z",
            "practitioner": str(world.users["doctor"].id),
        }
    ]


def test_slots_move_in_utc_when_the_clocks_change(world):
    set_zone(world.main, "Europe/Berlin")
    make_schedule(world, weekly=[{"weekday": 0, "start": "09:00", "end": "09:30"}])
    response = world.api("receptionist").get(
        "/api/slots/",
        {
            "practitioner": str(world.users["doctor"].id),
            "from": "2031-03-24T00:00:00Z",
            "to": "2031-04-01T00:00:00Z",
        },
    )
    assert [s["start"] for s in response.json()] == [
        "2031-03-24T08:00:00Z",  # CET
        "2031-03-31T07:00:00Z",  # CEST
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2031-01-06", "to": "2031-01-05"},
        {"from": "2031-01-01", "to": "2031-06-01"},
        {"from": "2031-01-06T09:00:00", "to": "2031-01-07"},
        {"from": "2031-01-06", "to": "2031-01-07", "extra": "1"},
        {"to": "2031-01-07"},
    ],
)
def test_bad_slot_queries_are_422(world, params):
    response = world.api("receptionist").get(
        "/api/slots/", {"practitioner": str(world.users["doctor"].id), **params}
    )
    assert response.status_code == 422, response.json()


# --- booking -------------------------------------------------------------------------------


def test_booking_answers_201_booked_with_the_default_slot_length(world):
    make_schedule(world)
    patient = make_patient(world)

    response = world.api("receptionist").post(
        "/api/appointments/", book_body(world, patient, at(MONDAY, "09:30"))
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "BOOKED" and body["encounter"] is None
    assert (body["start"], body["end"]) == ("2031-01-06T09:30:00Z", "2031-01-06T10:00:00Z")
    assert response["ETag"] == '"1"'
    assert event_types(world, body["id"]) == ["appointment.booked"]
    # on the patient's timeline
    entries = TimelineEntry.all_tenants.filter(
        patient_id=patient.id, event_type="appointment.booked"
    )
    assert entries.count() == 1


def test_a_booking_may_span_several_slots(world):
    make_schedule(world)
    response = world.api("receptionist").post(
        "/api/appointments/",
        book_body(world, make_patient(world), at(MONDAY, "10:00"), end=iso(at(MONDAY, "11:00"))),
    )
    assert response.status_code == 201
    assert response.json()["end"] == "2031-01-06T11:00:00Z"


def test_overlapping_the_practitioner_is_409_slot_unavailable(world):
    make_schedule(world)
    book(world, make_patient(world, name="First"), at(MONDAY, "09:00"), end=at(MONDAY, "10:00"))
    before = event_count(world)

    response = world.api("receptionist").post(
        "/api/appointments/", book_body(world, make_patient(world), at(MONDAY, "09:30"))
    )

    assert response.status_code == 409
    assert err(response) == "slot_unavailable"
    assert event_count(world) == before + 1  # only the second patient's registration


def test_overlapping_the_patient_is_409_patient_double_booked(world):
    make_schedule(world)
    make_schedule(world, practitioner="nurse")
    patient = make_patient(world)
    book(world, patient, at(MONDAY, "09:00"))
    before = event_count(world)

    body = {
        **book_body(world, patient, at(MONDAY, "09:00")),
        "practitioner": str(world.users["nurse"].id),
    }
    response = world.api("receptionist").post("/api/appointments/", body)

    assert response.status_code == 409
    assert err(response) == "patient_double_booked"
    assert event_count(world) == before


def test_the_patient_is_double_booked_across_facilities_too(world):
    make_schedule(world)
    make_schedule(world, facility=world.annex)
    patient = make_patient(world)
    book(world, patient, at(MONDAY, "09:00"), practitioner="doctor")
    body = {
        **book_body(world, patient, at(MONDAY, "09:00")),
        "practitioner": str(world.users["admin"].id),
    }
    # admin is no practitioner anywhere: outside schedule, not a leak of the other booking
    assert world.api("admin", world.annex).post("/api/appointments/", body).status_code == 422
    # the doctor at the annex is the same person: slot unavailable there too
    clash = world.api("admin", world.annex).post(
        "/api/appointments/", book_body(world, make_patient(world), at(MONDAY, "09:00"))
    )
    assert err(clash) == "slot_unavailable"


def test_outside_the_schedule_is_422_outside_schedule(world):
    make_schedule(world)
    patient = make_patient(world)
    for start, end in [
        (at(MONDAY, "13:00"), None),  # after hours
        (at(MONDAY, "09:10"), None),  # off the grid
        (at(MONDAY, "11:30"), at(MONDAY, "12:30")),  # runs past the window
        (at(MONDAY + timedelta(days=5), "09:00"), None),  # Saturday
    ]:
        extra = {"end": iso(end)} if end else {}
        response = world.api("receptionist").post(
            "/api/appointments/", book_body(world, patient, start, **extra)
        )
        assert response.status_code == 422, (start, response.json())
        assert err(response) == "outside_schedule"
    assert Appointment.all_tenants.count() == 0


def test_without_any_schedule_is_outside_schedule(world):
    response = world.api("receptionist").post(
        "/api/appointments/", book_body(world, make_patient(world), at(MONDAY, "09:00"))
    )
    assert err(response) == "outside_schedule"


def test_in_the_past_is_422(world):
    make_schedule(world)
    today = datetime.now(tz=UTC).date()
    last_monday = today - timedelta(days=today.weekday() + 7)
    response = world.api("receptionist").post(
        "/api/appointments/", book_body(world, make_patient(world), at(last_monday, "09:00"))
    )
    assert response.status_code == 422
    assert err(response) == "start_in_past"


@pytest.mark.parametrize(
    "change",
    [
        {"start": "2031-01-06T09:00:00"},  # no zone
        {"end": "2031-01-06T09:00:00Z"},  # not after start
        {"reason": ""},
        {"patient": "nope"},
        {"colour": "red"},
    ],
)
def test_bad_bookings_are_422(world, change):
    make_schedule(world)
    body = {**book_body(world, make_patient(world), at(MONDAY, "09:00")), **change}
    response = world.api("receptionist").post("/api/appointments/", body)
    assert response.status_code == 422, response.json()
    assert Appointment.all_tenants.count() == 0


def test_an_unknown_patient_is_404(world):
    make_schedule(world)
    patient = make_patient(world)
    body = {
        **book_body(world, patient, at(MONDAY, "09:00")),
        "patient": "00000000-0000-4000-8000-000000000000",
    }
    assert world.api("receptionist").post("/api/appointments/", body).status_code == 404


# --- reading -------------------------------------------------------------------------------


def test_list_filters_and_detail(world, django_assert_max_num_queries):
    make_schedule(world)
    make_schedule(world, practitioner="nurse")
    ada, bob = make_patient(world), make_patient(world, name="Bob")
    for hhmm in ("09:00", "10:00", "11:00"):
        book(world, ada, at(MONDAY, hhmm))
        book(world, bob, at(MONDAY, hhmm), practitioner="nurse")
    later = book(world, ada, at(MONDAY + timedelta(days=1), "09:00"))
    api = world.api("doctor")

    def ids(**params):
        response = api.get("/api/appointments/", params)
        assert response.status_code == 200, response.json()
        return response.json()

    assert ids()["count"] == 7
    assert ids(patient=str(bob.id))["count"] == 3
    assert ids(practitioner=str(world.users["nurse"].id))["count"] == 3
    day = ids(**{"from": str(MONDAY), "to": str(MONDAY)})
    assert day["count"] == 6
    assert [a["start"] for a in day["items"]][:2] == ["2031-01-06T09:00:00Z"] * 2
    assert ids(**{"from": iso(at(MONDAY, "10:30"))}, patient=str(ada.id))["count"] == 2
    assert ids(status="CANCELLED")["count"] == 0
    assert api.get("/api/appointments/", {"status": "LOST"}).status_code == 422
    assert api.get("/api/appointments/", {"doctor": "x"}).status_code == 422

    with django_assert_max_num_queries(8):
        assert ids(limit=200)["count"] == 7

    detail = api.get(f"/api/appointments/{later.id}/")
    assert detail.status_code == 200 and detail["ETag"] == '"1"'
    assert detail.json()["patient"] == str(ada.id)
    assert (
        AuditRecord.all_tenants.filter(action="appointment.viewed", patient_id=ada.id).count() == 1
    )


def test_list_query_count_does_not_grow(world, django_assert_max_num_queries):
    make_schedule(world)
    patient = make_patient(world)
    book(world, patient, at(MONDAY, "09:00"))
    api = world.api("receptionist")
    with django_assert_max_num_queries(8) as few:
        api.get("/api/appointments/")
    for hhmm in ("09:30", "10:00", "10:30", "11:00"):
        book(world, make_patient(world), at(MONDAY, hhmm))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert api.get("/api/appointments/").json()["count"] == 5


# --- transitions ---------------------------------------------------------------------------


def test_cancel_frees_the_slot(world):
    make_schedule(world)
    first = book(world, make_patient(world), at(MONDAY, "09:00"))
    api = world.api("receptionist")

    response = api.post(f"/api/appointments/{first.id}/cancel/", {"reason": "Patient called"})

    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    assert response.json()["cancel_reason"] == "Patient called"
    again = api.post(
        "/api/appointments/", book_body(world, make_patient(world), at(MONDAY, "09:00"))
    )
    assert again.status_code == 201
    twice = api.post(f"/api/appointments/{first.id}/cancel/", {"reason": "again"})
    assert twice.status_code == 409 and err(twice) == "invalid_transition"
    assert api.post(f"/api/appointments/{first.id}/cancel/", {}).status_code == 422


def test_reschedule_moves_it_and_frees_the_old_slot_at_once(world):
    make_schedule(world)
    patient = make_patient(world)
    appointment = book(world, patient, at(MONDAY, "09:00"))
    api = world.api("receptionist")

    response = api.post(
        f"/api/appointments/{appointment.id}/reschedule/",
        {"start": iso(at(MONDAY, "10:00"))},
        headers={"If-Match": '"1"'},
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["start"], response.json()["end"]) == (
        "2031-01-06T10:00:00Z",
        "2031-01-06T10:30:00Z",
    )
    assert response.json()["version"] == 2
    freed = api.post(
        "/api/appointments/", book_body(world, make_patient(world), at(MONDAY, "09:00"))
    )
    assert freed.status_code == 201
    # the same rules: onto a taken slot, off the grid, in the past
    taken = api.post(
        f"/api/appointments/{appointment.id}/reschedule/", {"start": iso(at(MONDAY, "09:00"))}
    )
    assert err(taken) == "slot_unavailable"
    off = api.post(
        f"/api/appointments/{appointment.id}/reschedule/", {"start": iso(at(MONDAY, "09:05"))}
    )
    assert err(off) == "outside_schedule"
    # overlapping only itself is fine (a longer visit from the same start)
    longer = api.post(
        f"/api/appointments/{appointment.id}/reschedule/",
        {"start": iso(at(MONDAY, "10:00")), "end": iso(at(MONDAY, "11:00"))},
    )
    assert longer.status_code == 200
    stale = api.post(
        f"/api/appointments/{appointment.id}/reschedule/",
        {"start": iso(at(MONDAY, "11:00"))},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert event_types(world, appointment.id) == [
        "appointment.booked",
        "appointment.rescheduled",
        "appointment.rescheduled",
    ]


def test_no_show_only_after_the_start(world):
    make_schedule(world)
    appointment = book(world, make_patient(world), at(MONDAY, "09:00"))
    early = world.api("receptionist").post(f"/api/appointments/{appointment.id}/no-show/")
    assert early.status_code == 422 and err(early) == "appointment_not_started"
    assert reload(world, appointment.id).status == "BOOKED"


def test_no_show_after_the_start(world, monkeypatch):
    make_schedule(world)
    appointment = book(world, make_patient(world), at(MONDAY, "09:00"))
    # the clock moves past the start
    monkeypatch.setattr("hm_core.scheduling.services.utcnow", lambda: at(MONDAY, "09:20"))
    response = world.api("receptionist").post(f"/api/appointments/{appointment.id}/no-show/")
    assert response.status_code == 200 and response.json()["status"] == "NO_SHOW"
    assert event_types(world, appointment.id)[-1] == "appointment.marked_no_show"
    # a no-show frees the slot
    assert book(world, make_patient(world), at(MONDAY, "09:30")).status == "BOOKED"


def test_check_in_opens_a_checked_in_encounter_and_its_close_fulfils(world):
    # given a booked appointment
    make_schedule(world)
    patient = make_patient(world)
    appointment = book(world, patient, at(MONDAY, "09:00"))

    # when the patient arrives
    response = world.api("receptionist").post(f"/api/appointments/{appointment.id}/check-in/")

    # then an encounter exists, checked in, linked both ways through the appointment
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "CHECKED_IN" and body["encounter"]
    encounter = Encounter.all_tenants.get(id=body["encounter"])
    assert encounter.status == "CHECKED_IN" and encounter.patient_id == patient.id
    assert encounter.scheduled_at == at(MONDAY, "09:00")
    assert world.api("doctor").get(f"/api/encounters/{encounter.id}/").status_code == 200
    again = world.api("receptionist").post(f"/api/appointments/{appointment.id}/check-in/")
    assert err(again) == "invalid_transition"
    cancel = world.api("receptionist").post(
        f"/api/appointments/{appointment.id}/cancel/", {"reason": "x"}
    )
    assert err(cancel) == "invalid_transition"

    # when the visit is closed
    scope = world.scope("doctor")
    encounter_record_vitals(scope=scope, encounter_id=encounter.id, vitals=as_vitals(NORMAL_VITALS))
    encounter_start_consult(scope=scope, encounter_id=encounter.id)
    encounter_record_assessment(scope=scope, encounter_id=encounter.id, assessment="OK")
    encounter_record_plan(scope=scope, encounter_id=encounter.id, plan="Rest")
    encounter_close(scope=scope, encounter_id=encounter.id)

    # then the appointment is fulfilled
    assert reload(world, appointment.id).status == "FULFILLED"
    assert event_types(world, appointment.id) == [
        "appointment.booked",
        "appointment.checked_in",
        "appointment.fulfilled",
    ]
    timeline = set(
        TimelineEntry.all_tenants.filter(patient_id=patient.id).values_list("event_type", flat=True)
    )
    assert {
        "appointment.booked",
        "appointment.checked_in",
        "appointment.fulfilled",
        "encounter.created",
        "encounter.checked_in",
        "encounter.closed",
    } <= timeline


def test_an_encounter_not_from_an_appointment_closes_as_before(world):
    from tests.encounters.conftest import make_encounter

    closed = make_encounter(world, "CLOSED")
    assert closed.status == "CLOSED"
    with scope_active(world.scope("admin")):
        assert not Appointment.objects.filter(encounter_id=closed.id).exists()


def test_transitions_need_their_permission(world):
    make_schedule(world)
    appointment = book(world, make_patient(world), at(MONDAY, "09:00"))
    denied = world.api("billing_clerk").post(
        f"/api/appointments/{appointment.id}/cancel/", {"reason": "x"}
    )
    assert denied.status_code == 403
    assert world.api("lab_tech").get("/api/appointments/").status_code == 403
    assert (
        world.api("doctor")
        .post(f"/api/appointments/{appointment.id}/cancel/", {"reason": "x"})
        .status_code
        == 403
    )
    assert (
        world.api("nurse").post(f"/api/appointments/{appointment.id}/check-in/").status_code == 200
    )


def test_unknown_ids_are_404(world):
    missing = "00000000-0000-4000-8000-000000000000"
    api = world.api("receptionist")
    assert api.get(f"/api/appointments/{missing}/").status_code == 404
    for verb in ("check-in", "no-show"):
        assert api.post(f"/api/appointments/{missing}/{verb}/").status_code == 404


def test_dates_in_the_past_listing(world):
    # a date-only `to` takes in the whole local day
    set_zone(world.main, "America/New_York")
    make_schedule(world, weekly=[{"weekday": 0, "start": "21:00", "end": "22:00"}])
    late = book(world, make_patient(world), datetime(2031, 1, 7, 2, 0, tzinfo=UTC))  # 21:00 EST
    listed = (
        world.api("receptionist")
        .get("/api/appointments/", {"from": "2031-01-06", "to": "2031-01-06"})
        .json()
    )
    assert [a["id"] for a in listed["items"]] == [str(late.id)]
    assert date.fromisoformat(listed["items"][0]["start"][:10]) == date(2031, 1, 7)
