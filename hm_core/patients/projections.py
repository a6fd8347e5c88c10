"""Patient read model projections: replayable, keyed on the stream, no clock and no I/O."""

from __future__ import annotations

from typing import Any

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.patients.demographics import ADDRESS_FIELDS, CONTACT_FIELDS
from hm_core.patients.events import (
    PatientDeleted,
    PatientRegistered,
    PatientRestored,
    PatientUpdated,
)
from hm_core.patients.models import Patient

NESTED = (("address", ADDRESS_FIELDS), ("emergency_contact", CONTACT_FIELDS))

rebuildable("patients", Patient)


@subscribe(PatientRegistered)
def patient_apply_registered(event: PatientRegistered, meta: EventMeta) -> None:
    """Insert the row; replaying the same event again leaves it as it is."""
    demographics = event.model_dump(exclude={"patient_id"})
    upsert(
        Patient,
        id=event.patient_id,
        defaults={
            **_columns(demographics),
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(PatientUpdated)
def patient_apply_updated(event: PatientUpdated, meta: EventMeta) -> None:
    _touch(meta, **_columns(event.changes))


@subscribe(PatientDeleted)
def patient_apply_deleted(event: PatientDeleted, meta: EventMeta) -> None:
    _touch(meta, is_deleted=True, deleted_at=meta.occurred_at)


@subscribe(PatientRestored)
def patient_apply_restored(event: PatientRestored, meta: EventMeta) -> None:
    _touch(meta, is_deleted=False, deleted_at=None)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Event fields as columns: `address` and `emergency_contact` (objects or null) spread over
    their prefixed columns, empty when null; everything else as it is."""
    columns = dict(fields)
    for name, keys in NESTED:
        if name in columns:
            value = columns.pop(name) or {}
            columns |= {f"{name}_{key}": value.get(key, "") for key in keys}
    return columns


def _touch(meta: EventMeta, **fields: object) -> None:
    update(
        Patient.all_tenants.filter(id=meta.stream.id, tenant_id=meta.tenant_id),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
