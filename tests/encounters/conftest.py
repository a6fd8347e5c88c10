"""Encounter test helpers: patients and encounters are made through the services, never rows.

`tests/tasks` and `tests/alerts` import these helpers too: the OPD workflow is what creates
their tasks and alerts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from hm_core.common.scope import scope_active
from hm_core.encounters import services
from hm_core.encounters.models import Encounter
from hm_core.encounters.news2 import Vitals
from hm_core.encounters.selectors import encounter_get
from hm_core.events.models import Event
from hm_core.iam.models import Facility
from hm_core.patients.models import Patient
from hm_core.patients.services import patient_register
from tests.conftest import World

SCHEDULED_AT = "2030-01-07T09:30:00Z"

# NEWS2 0: a healthy adult, no alert.
NORMAL_VITALS: dict[str, Any] = {
    "blood_pressure_systolic": 120,
    "blood_pressure_diastolic": 80,
    "pulse": 72,
    "temperature": 98.6,
    "spo2": 98,
    "respiratory_rate": 16,
}
# NEWS2 3+3+3+3+3+2 = 17: critical alert (emergency response).
CRITICAL_VITALS: dict[str, Any] = {
    "blood_pressure_systolic": 88,
    "blood_pressure_diastolic": 50,
    "pulse": 135,
    "temperature": 39.5,
    "temperature_unit": "C",
    "spo2": 90,
    "respiratory_rate": 26,
    "consciousness": "V",
}
# NEWS2 2 (RR 21) + 1 (SpO2 95) + 1 (SBP 110) + 1 (pulse 91) = 5, no single 3: a "high" alert.
NEWS2_FIVE_VITALS: dict[str, Any] = {
    "blood_pressure_systolic": 110,
    "blood_pressure_diastolic": 70,
    "pulse": 91,
    "temperature": 37.0,
    "temperature_unit": "C",
    "spo2": 95,
    "respiratory_rate": 21,
}

# Stages make_encounter can bring a visit to, in workflow order.
STAGES = ("SCHEDULED", "CHECKED_IN", "VITALS", "IN_CONSULT", "DOCUMENTED", "CLOSED")


def as_vitals(body: dict[str, Any]) -> Vitals:
    """The domain value of an API vitals body."""
    fields = {**body, "temperature": Decimal(str(body["temperature"]))}
    return Vitals(**fields)


def make_patient(world: World, *, facility: Facility | None = None, name: str = "Ada") -> Patient:
    return patient_register(
        scope=world.scope("admin", facility=facility),
        demographics={
            "full_name": f"{name} Lovelace",
            "mrn": f"MRN-{uuid.uuid4().hex[:12]}",
            "date_of_birth": date(1980, 5, 17),
            "gender": "F",
            "phone": "",
            "email": "",
            "address": "",
        },
    )


def make_encounter(
    world: World,
    stage: str = "SCHEDULED",
    *,
    facility: Facility | None = None,
    patient: Patient | None = None,
    vitals: dict[str, Any] | None = None,
) -> Encounter:
    """An encounter brought to `stage` through the services, as the admin of `facility`.

    VITALS = checked in with vitals; IN_CONSULT = vitals then consult started; DOCUMENTED =
    IN_CONSULT with assessment and plan (ready to close); CANCELLED = cancelled when scheduled.
    """
    scope = world.scope("admin", facility=facility)
    patient = patient or make_patient(world, facility=facility)
    enc = services.encounter_create(
        scope=scope,
        patient_id=patient.id,
        reason="Cough",
        scheduled_at=datetime(2030, 1, 7, 9, 30, tzinfo=UTC),
    )
    eid = enc.id
    if stage == "CANCELLED":
        services.encounter_cancel(scope=scope, encounter_id=eid, reason="Patient called off")
        return _reload(world, eid, facility)
    reached = STAGES.index(stage)
    if reached >= STAGES.index("CHECKED_IN"):
        services.encounter_check_in(scope=scope, encounter_id=eid)
    if reached >= STAGES.index("VITALS"):
        services.encounter_record_vitals(
            scope=scope, encounter_id=eid, vitals=as_vitals(vitals or NORMAL_VITALS)
        )
    if reached >= STAGES.index("IN_CONSULT"):
        services.encounter_start_consult(scope=scope, encounter_id=eid)
    if reached >= STAGES.index("DOCUMENTED"):
        services.encounter_record_assessment(scope=scope, encounter_id=eid, assessment="URTI")
        services.encounter_record_plan(scope=scope, encounter_id=eid, plan="Rest")
    if reached >= STAGES.index("CLOSED"):
        services.encounter_close(scope=scope, encounter_id=eid)
    return _reload(world, eid, facility)


def _reload(world: World, encounter_id: uuid.UUID, facility: Facility | None) -> Encounter:
    scope = world.scope("admin", facility=facility)
    with scope_active(scope):
        return encounter_get(scope=scope, encounter_id=encounter_id)


def event_count(world: World) -> int:
    """Every event of the world's tenant: a refused request must leave it unchanged."""
    return Event.objects.filter(tenant_id=world.tenant.id).count()


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def enc_url(encounter: Encounter | str | uuid.UUID, action: str = "") -> str:
    eid = encounter.id if isinstance(encounter, Encounter) else encounter
    return f"/api/encounters/{eid}/" + (f"{action}/" if action else "")


@pytest.fixture
def patient(world: World) -> Patient:
    return make_patient(world)
