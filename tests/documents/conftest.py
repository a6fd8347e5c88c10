"""Document test helpers: encounters are made through the services, like any clinical state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from hm_core.encounters.models import Encounter
from hm_core.encounters.services import encounter_check_in, encounter_create
from hm_core.iam.models import Facility
from hm_core.patients.services import patient_register
from tests.conftest import World

NOTE = {"subjective": "Cough for 3 days", "objective": {"temp_c": 37.9}, "plan": ["rest"]}


def make_encounter(
    world: World, *, facility: Facility | None = None, check_in: bool = True
) -> Encounter:
    """A patient of the world's tenant and an encounter at `facility` (main by default)."""
    scope = world.scope("doctor", facility=facility)
    patient = patient_register(
        scope=scope,
        demographics={
            "full_name": "Ada Lovelace",
            "mrn": f"MRN-{uuid.uuid4().hex[:12]}",
            "date_of_birth": datetime(1980, 5, 17, tzinfo=UTC).date(),
            "gender": "F",
            "phone": "",
            "email": "",
            "address": "",
        },
    )
    encounter = encounter_create(
        scope=scope,
        patient_id=patient.id,
        reason="Cough",
        scheduled_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    )
    if check_in:
        encounter = encounter_check_in(scope=scope, encounter_id=encounter.id)
    return encounter


def create_body(encounter: Encounter, /, **overrides: Any) -> dict[str, Any]:
    return {
        "encounter": str(encounter.id),
        "doc_type": "progress_note",
        "payload": NOTE,
    } | overrides


@pytest.fixture
def encounter(world: World) -> Encounter:
    """A CHECKED_IN encounter at the world's main facility."""
    return make_encounter(world)
