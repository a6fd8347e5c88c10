"""Tenant and facility isolation of schedules and appointments: another scope sees nothing."""

from __future__ import annotations

import pytest

from hm_core.common.scope import ScopeNotActive
from hm_core.scheduling.selectors import AppointmentFilters, appointment_get, appointment_list
from tests.scheduling.conftest import MONDAY, at, book, make_patient, make_schedule


def test_another_tenant_gets_404_and_empty_lists(world, other_world):
    make_schedule(world)
    appointment = book(world, make_patient(world), at(MONDAY, "09:00"))
    rival = other_world.api("admin")

    assert rival.get(f"/api/appointments/{appointment.id}/").status_code == 404
    for verb in ("check-in", "no-show"):
        assert rival.post(f"/api/appointments/{appointment.id}/{verb}/").status_code == 404
    assert (
        rival.post(f"/api/appointments/{appointment.id}/cancel/", {"reason": "x"}).status_code
        == 404
    )
    assert rival.get("/api/appointments/").json()["count"] == 0
    assert rival.get("/api/schedules/").json()["count"] == 0
    slots = rival.get(
        "/api/slots/",
        {"practitioner": str(world.users["doctor"].id), "from": "2031-01-06", "to": "2031-01-06"},
    )
    assert slots.status_code == 200 and slots.json() == []


def test_another_facility_of_the_tenant_gets_404(world):
    make_schedule(world)
    appointment = book(world, make_patient(world), at(MONDAY, "09:00"))
    annex = world.api("admin", world.annex)
    assert annex.get(f"/api/appointments/{appointment.id}/").status_code == 404
    assert annex.get("/api/appointments/").json()["count"] == 0
    assert annex.get("/api/schedules/").json()["count"] == 0


def test_a_rival_tenant_booking_does_not_block_ours(world, other_world):
    # the overlap rules are per tenant: the same ids elsewhere are other people
    make_schedule(world)
    make_schedule(other_world)
    book(other_world, make_patient(other_world), at(MONDAY, "09:00"))
    assert book(world, make_patient(world), at(MONDAY, "09:00")).status == "BOOKED"


def test_selectors_refuse_to_run_outside_a_scope(world):
    with pytest.raises(ScopeNotActive):
        list(appointment_list(scope=world.scope("admin"), filters=AppointmentFilters()))
    with pytest.raises(ScopeNotActive):
        appointment_get(scope=world.scope("admin"), appointment_id=world.tenant.id)


def test_requests_without_scope_or_token_are_refused(world, anonymous):
    assert anonymous.get("/api/appointments/").status_code == 401
    no_scope = world.api("admin")
    no_scope.headers.pop("X-Tenant-ID")
    assert no_scope.get("/api/appointments/").status_code == 400
