"""Patient read model projections: replayable, keyed on the stream, no clock and no I/O."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from hm_core.common.crypto import blind_index, decrypt_field, rotate_field, rotator
from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.patients.demographics import CONTACT_FIELDS
from hm_core.patients.events import (
    SEALED,
    PatientBreakGlassGranted,
    PatientConsentRecorded,
    PatientDeleted,
    PatientRegistered,
    PatientRestored,
    PatientUpdated,
)
from hm_core.patients.models import BreakGlassGrant, Patient, PatientConsent

NESTED = (("emergency_contact", CONTACT_FIELDS),)
INDEXED = frozenset({"phone", "email", "national_id"})
ROTATION_BATCH = 500

rebuildable("patients", Patient, PatientConsent, BreakGlassGrant)


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
    """Event fields as columns: the encrypted fields' tokens copied as they are (so a rebuild
    writes the very bytes the events hold) with the blind index of their plaintext (a missing
    key fails here, loudly), `emergency_contact` spread over its prefixed columns, empty when
    null; everything else as it is."""
    columns = dict(fields)
    for name in SEALED:
        if name in columns:
            token = columns.pop(name) or ""
            columns[f"{name}_encrypted"] = token
            if name in INDEXED:
                columns[f"{name}_index"] = blind_index(name, decrypt_field(token))
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


@subscribe(PatientBreakGlassGranted)
def break_glass_apply_granted(event: PatientBreakGlassGranted, meta: EventMeta) -> None:
    """The grant, keyed on its id; it lapses by its `expires_at`, no event needed."""
    upsert(
        BreakGlassGrant,
        id=event.grant_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "patient_id": event.patient_id,
            "user_id": event.user_id,
            "username": meta.actor_username,
            "reason": event.reason,
            "granted_at": meta.occurred_at,
            "expires_at": event.expires_at,
        },
    )


@rotator("patients")
def patient_rotate_field_keys() -> int:
    """Re-encrypt every row's tokens with the first key (blind indexes do not change); rows in
    batches, each batch in its own transaction, so a long rotation never holds the table."""
    columns = [f"{name}_encrypted" for name in SEALED]
    rows = Patient.all_tenants.order_by("pk").only("pk", *columns)
    done, batch = 0, []
    for row in rows.iterator(chunk_size=ROTATION_BATCH):
        for column in columns:
            setattr(row, column, rotate_field(getattr(row, column)))
        batch.append(row)
        if len(batch) == ROTATION_BATCH:
            done += _save_rotated(batch, columns)
            batch = []
    return done + _save_rotated(batch, columns)


def _save_rotated(batch: list[Patient], columns: list[str]) -> int:
    with transaction.atomic():
        Patient.all_tenants.bulk_update(batch, columns)
    return len(batch)


@subscribe(PatientConsentRecorded)
def consent_apply_recorded(event: PatientConsentRecorded, meta: EventMeta) -> None:
    """One row per consent, keyed on its id: a replay writes the same row again."""
    upsert(
        PatientConsent,
        id=event.consent_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "patient_id": event.patient_id,
            "category": event.category,
            "decision": event.decision,
            "valid_from": event.valid_from,
            "valid_to": event.valid_to,
            "note": event.note,
            "position": meta.position,
            "version": meta.stream_version,
            "recorded_at": meta.occurred_at,
            "recorded_by_id": meta.actor_id,
            "recorded_by": meta.actor_username,
        },
    )
