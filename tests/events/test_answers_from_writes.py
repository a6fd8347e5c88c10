"""Commands answer from the rows their unit of work wrote: the same as reading them back."""

from __future__ import annotations

from django.forms.models import model_to_dict

from hm_core.common.scope import scope_active
from hm_core.encounters import services
from hm_core.encounters.models import Encounter, VitalsRecord
from hm_core.encounters.selectors import encounter_get, vitals_get
from hm_core.patients.models import Patient
from hm_core.patients.selectors import patient_get
from tests.encounters.conftest import NORMAL_VITALS, as_vitals, make_encounter, make_patient


def _row(obj: Encounter | VitalsRecord | Patient) -> dict[str, object]:
    fields = [f.attname for f in obj._meta.concrete_fields]
    return {name: getattr(obj, name) for name in fields} | model_to_dict(obj)


def test_each_answer_equals_the_row_read_back(world):
    # given a scheduled visit
    scope = world.scope("admin")
    patient = make_patient(world)
    encounter = make_encounter(world, patient=patient)
    # when it goes through check-in, vitals (twice) and the consultation
    answers = [services.encounter_check_in(scope=scope, encounter_id=encounter.id)]
    first = services.encounter_record_vitals(
        scope=scope, encounter_id=encounter.id, vitals=as_vitals(NORMAL_VITALS)
    )
    second = services.encounter_record_vitals(
        scope=scope, encounter_id=encounter.id, vitals=as_vitals(NORMAL_VITALS)
    )
    answers.append(services.encounter_start_consult(scope=scope, encounter_id=encounter.id))
    # then every answer is the row as stored, field by field
    with scope_active(scope):
        assert _row(patient) == _row(patient_get(scope=scope, patient_id=patient.id))
        for record in (first, second):
            assert _row(record) == _row(vitals_get(scope=scope, vitals_id=record.id))
        stored = encounter_get(scope=scope, encounter_id=encounter.id)
        assert _row(answers[-1]) == _row(stored)  # its vitals count read when used
    assert answers[0].status == "CHECKED_IN" and answers[-1].status == "IN_CONSULT"
    assert second.encounter_version == first.encounter_version + 1  # type: ignore[attr-defined]
    assert stored.vitals_count == 2
