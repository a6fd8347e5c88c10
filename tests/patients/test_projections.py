"""Patient events v2, their upcasters, and rebuild equals live, for old stored events too."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict

from hm_core.common.crypto import decrypt_field
from hm_core.common.time import utcnow
from hm_core.events import store
from hm_core.events.base import StreamRef
from hm_core.events.models import Event
from hm_core.events.replay import rebuild
from hm_core.patients.demographics import split_full_name
from hm_core.patients.events import PatientRegistered, PatientUpdated, open_address
from hm_core.patients.models import Patient
from tests.patients.factories import register_patient

V1_REGISTERED = {
    "patient_id": "6f1f7c1e-8d0a-4f5e-9a51-4b7d0c1f2a3b",
    "mrn": "OLD-1",
    "full_name": "Maria de la Cruz",
    "date_of_birth": "1970-03-04",
    "gender": "F",
    "phone": "",
    "email": "Maria@Example.org",
    "address": "12 Old Road, Springfield",
}
LEGACY_ADDRESS = {
    "line1": "12 Old Road, Springfield",
    "line2": "",
    "city": "",
    "state": "",
    "postal_code": "",
    "country": "",
}


@dataclass(frozen=True)
class _StoredV1:
    """An event as version 1 of the schema wrote it (the store only reads these fields)."""

    event_type: str
    payload: dict[str, Any]
    schema_version: int = 1

    def to_payload(self) -> dict[str, Any]:
        return self.payload


def _append_v1(world: Any, stream_id: uuid.UUID, *events: _StoredV1) -> None:
    """Store events exactly as the first schema did, as a database from before the change."""
    scope = world.scope("admin")
    with transaction.atomic():
        head = store._lock_head(scope.tenant_id)
        version = store.stream_version(scope.tenant_id, stream_id)
        for offset, event in enumerate(events, start=1):
            stream = StreamRef("patient", stream_id)
            row = store._new_row(scope, stream, event, head, version + offset, utcnow(), None)  # type: ignore[arg-type]
            row.save()
            head.position, head.hash = row.position, row.hash
        head.save(update_fields=["position", "hash"])


def _rows(world: Any) -> list[dict[str, Any]]:
    rows = Patient.all_tenants.filter(tenant_id=world.tenant.id).order_by("pk")
    return [model_to_dict(row) | {"pk": row.pk} for row in rows]


def test_registered_v1_upcasts_to_structured_name_address_and_lower_case_email():
    event = PatientRegistered.from_payload(V1_REGISTERED, 1)

    assert isinstance(event, PatientRegistered)
    assert (event.given_name, event.middle_name, event.family_name) == ("Maria", "", "de la Cruz")
    assert event.full_name == "Maria de la Cruz"
    assert open_address(event.address) == LEGACY_ADDRESS
    assert decrypt_field(event.email) == "maria@example.org"
    assert (event.emergency_contact, event.national_id) == (None, "")


def test_registered_v1_without_address_upcasts_to_no_address():
    event = PatientRegistered.from_payload(V1_REGISTERED | {"address": ""}, 1)

    assert isinstance(event, PatientRegistered) and event.address is None


def test_updated_v1_upcasts_only_the_fields_it_changed():
    changes = {"full_name": "Madonna", "address": "", "phone": "555"}

    event = PatientUpdated.from_payload(
        {"patient_id": V1_REGISTERED["patient_id"], "changes": changes}, 1
    )

    assert isinstance(event, PatientUpdated)
    assert PatientUpdated.revealed(event.to_payload())["changes"] == {
        "full_name": "Madonna",
        "given_name": "",
        "middle_name": "",
        "family_name": "Madonna",
        "address": None,
        "phone": "555",
    }


def test_rebuild_of_v1_events_gives_the_row_the_data_migration_gives(world):
    # given: a patient recorded before structured demographics, renamed once
    patient_id = uuid.UUID(V1_REGISTERED["patient_id"])
    renamed = {"patient_id": str(patient_id), "changes": {"full_name": "Maria Elena de la Cruz"}}
    _append_v1(
        world,
        patient_id,
        _StoredV1("patient.registered", V1_REGISTERED),
        _StoredV1("patient.updated", renamed),
    )

    # when
    rebuild(["patients"], tenant_ids=[world.tenant.id])

    # then: the migration splits the final full name and moves the address into line 1
    patient = Patient.all_tenants.get(id=patient_id)
    assert (patient.given_name, patient.middle_name, patient.family_name) == split_full_name(
        "Maria Elena de la Cruz"
    )
    assert (patient.full_name, patient.email) == ("Maria Elena de la Cruz", "maria@example.org")
    assert patient.address == LEGACY_ADDRESS
    assert patient.version == 2
    assert Event.objects.filter(stream_id=patient_id, schema_version=1).count() == 2


def test_rebuild_equals_live_for_structured_demographics(world):
    # given
    api = world.api()
    address = {"line1": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701"}
    contact = {"name": "Carl", "relationship": "son", "phone": "+1 555 0100"}
    anna = register_patient(api, address=address | {"country": "US"}, emergency_contact=contact)
    bruno = register_patient(api, full_name="Smith, Bruno", email="B@X.org", national_id="X1")
    for patient, changes in [
        (anna, {"middle_name": "Q", "address": None}),
        (bruno, {"full_name": "Bruno van Keller"}),
        (bruno, {"emergency_contact": contact, "email": "Bruno@X.org"}),
        (bruno, {"date_of_birth": str(date(1990, 1, 2))}),
    ]:
        assert api.patch(f"/api/patients/{patient['id']}/", changes).status_code == 200
    live = _rows(world)

    # when
    rebuild(["patients"], tenant_ids=[world.tenant.id])

    # then
    assert _rows(world) == live
    assert {row["family_name"] for row in live} == {"Smith", "van Keller"}
