"""Rebuild equals live: scheduling's and notifications' read models replayed from the store."""

from __future__ import annotations

from django.forms.models import model_to_dict

from hm_core.events.replay import rebuild
from hm_core.notifications.models import Notification
from hm_core.scheduling import services
from hm_core.scheduling.models import Appointment, Schedule
from tests.scheduling.conftest import MONDAY, at, book, make_patient, make_schedule


def rows(tenant_id) -> dict[str, list[dict]]:
    return {
        model.__name__: [
            model_to_dict(row) | {"pk": row.pk}
            for row in model.all_tenants.filter(tenant_id=tenant_id).order_by("pk")
        ]
        for model in (Schedule, Appointment, Notification)
    }


def run_scenario(world) -> None:
    make_schedule(world)
    make_schedule(world, practitioner="nurse", slot_minutes=15)
    scope = world.scope("receptionist")
    a = book(world, make_patient(world), at(MONDAY, "09:00"))
    b = book(world, make_patient(world, name="Bob", phone=""), at(MONDAY, "09:30"))
    c = book(world, make_patient(world, name="Cy", email=""), at(MONDAY, "10:00"))
    book(world, make_patient(world, name="Di"), at(MONDAY, "10:00"), practitioner="nurse")
    services.appointment_reschedule(
        scope=scope, appointment_id=a.id, start=at(MONDAY, "11:00"), end=None
    )
    services.appointment_cancel(scope=scope, appointment_id=b.id, reason="called off")
    services.appointment_check_in(scope=scope, appointment_id=c.id)


def test_rebuild_reproduces_the_live_rows(world, other_world):
    run_scenario(world)
    make_schedule(other_world)
    book(other_world, make_patient(other_world), at(MONDAY, "09:00"))
    live, untouched = rows(world.tenant.id), rows(other_world.tenant.id)
    assert len(live["Appointment"]) == 4 and len(live["Notification"]) == 6

    rebuild(["scheduling", "notifications"], tenant_ids=[world.tenant.id])

    assert rows(world.tenant.id) == live
    assert rows(other_world.tenant.id) == untouched


def test_rebuild_runs_no_policies(world):
    run_scenario(world)
    before = Notification.all_tenants.count()
    rebuild(["scheduling"], tenant_ids=[world.tenant.id])
    assert Notification.all_tenants.count() == before
