"""Report test helpers: a clock the event store reads, and visits and lab tests walked through
the services at chosen instants, so the figures under test come from real events."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.forms.models import model_to_dict

from hm_core.catalog.services import catalog_seed
from hm_core.common.scope import Scope
from hm_core.encounters import services as encounters
from hm_core.events.models import Event
from hm_core.iam.models import Facility
from hm_core.reports.models import (
    LabTurnaround,
    OpdNoShow,
    OpdVisit,
    RevenueEncounterPayer,
    RevenueEntry,
)
from tests.conftest import World
from tests.encounters.conftest import NORMAL_VITALS, as_vitals, make_patient


class Clock:
    """The instant the event store stamps on the next events (their `occurred_at`)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def at(self, value: datetime) -> Clock:
        self.now = value
        return self

    def advance(self, minutes: float) -> Clock:
        self.now += timedelta(minutes=minutes)
        return self

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    monkeypatch.setattr("hm_core.events.store.utcnow", clock)
    return clock


@pytest.fixture
def rworld(world: World) -> World:
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    return world


def set_zone(facility: Facility, zone: str) -> None:
    """An administrator's facility setting (reference data, not event-sourced)."""
    Facility.objects.filter(id=facility.id).update(time_zone=zone)


def walk_visit(
    world: World,
    clock: Clock,
    *,
    check_in: datetime,
    wait: float | None = None,
    visit: float | None = None,
    cancel: bool = False,
    role: str = "admin",
    facility: Facility | None = None,
) -> uuid.UUID:
    """Create (at check-in time), check in, start the consult `wait` minutes later as `role`,
    close `visit` minutes after check-in; or cancel before the consult."""
    scope = world.scope("admin", facility=facility)
    clinician = world.scope(role, facility=facility)
    patient = make_patient(world, facility=facility)
    clock.at(check_in - timedelta(minutes=1))
    eid = encounters.encounter_create(
        scope=scope, patient_id=patient.id, reason="Cough", scheduled_at=check_in
    ).id
    if cancel:
        clock.at(check_in)
        encounters.encounter_cancel(scope=scope, encounter_id=eid, reason="Called off")
        return eid
    clock.at(check_in)
    encounters.encounter_check_in(scope=scope, encounter_id=eid)
    encounters.encounter_record_vitals(
        scope=scope, encounter_id=eid, vitals=as_vitals(NORMAL_VITALS)
    )
    if wait is None:
        return eid
    clock.at(check_in + timedelta(minutes=wait))
    encounters.encounter_start_consult(scope=clinician, encounter_id=eid)
    if visit is None:
        return eid
    encounters.encounter_record_assessment(scope=clinician, encounter_id=eid, assessment="URTI")
    encounters.encounter_record_plan(scope=clinician, encounter_id=eid, plan="Rest")
    clock.at(check_in + timedelta(minutes=visit))
    encounters.encounter_close(scope=clinician, encounter_id=eid)
    return eid


def events_of(world: World, *types: str, facility: Facility | None = None) -> list[Event]:
    """The tenant's stored events of these types in one facility, in position order."""
    return list(
        Event.objects.filter(
            tenant_id=world.tenant.id,
            facility_id=(facility or world.main).id,
            type__in=types,
        ).order_by("position")
    )


def percentile(values: list[float], fraction: float) -> float | None:
    """Independent of the code under test: statistics' inclusive quantiles (= percentile_cont)."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    if fraction == 0.5:
        return round(statistics.median(values), 2)
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return round(cuts[int(fraction * 10) - 1], 2)


def report_rows(tenant_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every report row of a tenant, field by field, in a stable order."""
    return {
        model.__name__: [
            model_to_dict(row) | {"pk": str(row.pk)}
            for row in model.all_tenants.filter(tenant_id=tenant_id).order_by("pk")
        ]
        for model in (OpdVisit, OpdNoShow, LabTurnaround, RevenueEntry, RevenueEncounterPayer)
    }


def scope_of(world: World, role: str = "admin") -> Scope:
    return world.scope(role)
