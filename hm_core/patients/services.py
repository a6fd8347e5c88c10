"""Patient write use-cases: register, update, delete, restore; and audited reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction

from hm_core.audit.services import audited_read
from hm_core.common.db import violates
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.patients import domain
from hm_core.patients.errors import DuplicateMrn
from hm_core.patients.events import PatientUpdated
from hm_core.patients.models import Patient
from hm_core.patients.selectors import patient_get, patient_mrn_taken
from hm_core.timeline.selectors import TimelinePage, timeline_for_patient

STREAM = "patient"


@contextmanager
def _unique_mrn() -> Iterator[None]:
    """Turn the database's unique-MRN violation (a lost race) into 409 `duplicate_mrn`."""
    try:
        yield
    except IntegrityError as exc:
        if violates(
            exc, constraint="patients_mrn_ci_per_tenant_uniq", columns=("tenant_id", "mrn")
        ):
            raise DuplicateMrn() from exc
        raise


def _state(patient: Patient) -> domain.PatientState:
    return domain.PatientState(
        patient_id=patient.id,
        version=patient.version,
        is_deleted=patient.is_deleted,
        demographics={field: getattr(patient, field) for field in domain.DEMOGRAPHIC_FIELDS},
    )


def patient_register(*, scope: Scope, demographics: dict[str, Any]) -> Patient:
    """Register a patient; the MRN is unique per tenant (checked, and enforced by the database)."""
    scope.require("patients.register")
    with scope_active(scope), _unique_mrn(), transaction.atomic():
        if patient_mrn_taken(scope=scope, mrn=demographics["mrn"]):
            raise DuplicateMrn()
        patient_id = uuid.uuid4()
        events = domain.register(
            patient_id=patient_id, demographics=demographics, today=utcnow().date()
        )
        publish(
            scope=scope, stream=StreamRef(STREAM, patient_id), expected_version=0, events=events
        )
        return patient_get(scope=scope, patient_id=patient_id)


def patient_update(
    *, scope: Scope, patient_id: uuid.UUID, changes: dict[str, Any], expected_version: int | None
) -> Patient:
    """Apply a partial update; the event carries only the fields that really changed."""

    def decide(patient: Patient) -> list[PatientUpdated]:
        mrn = changes.get("mrn")
        if mrn is not None and patient_mrn_taken(scope=scope, mrn=mrn, exclude=patient_id):
            raise DuplicateMrn()
        return domain.update(_state(patient), changes=changes, today=utcnow().date())

    with _unique_mrn():
        return run_command(
            scope=scope,
            permission="patients.update",
            stream_type=STREAM,
            load=lambda: patient_get(scope=scope, patient_id=patient_id),
            decide=decide,
            expected_version=expected_version,
        )


def patient_delete(*, scope: Scope, patient_id: uuid.UUID, expected_version: int | None) -> None:
    """Soft-delete: the patient leaves lists; the row and every event remain."""
    run_command(
        scope=scope,
        permission="patients.delete",
        stream_type=STREAM,
        # The answer is 204, so the reload after the delete must still find the row.
        load=lambda: patient_get(scope=scope, patient_id=patient_id, include_deleted=True),
        decide=lambda patient: domain.delete(_state(patient)),
        expected_version=expected_version,
    )


def patient_restore(*, scope: Scope, patient_id: uuid.UUID) -> Patient:
    """Bring a soft-deleted patient back (administrators only)."""
    return run_command(
        scope=scope,
        permission="patients.restore",
        stream_type=STREAM,
        load=lambda: patient_get(scope=scope, patient_id=patient_id, include_deleted=True),
        decide=lambda patient: domain.restore(_state(patient)),
        expected_version=None,
    )


def patient_view(*, scope: Scope, patient_id: uuid.UUID) -> Patient:
    """Read one patient and record the read in the audit trail (who, when, IP, user agent)."""
    return audited_read(
        scope=scope,
        permission="patients.view",
        action="patient.viewed",
        load=lambda: patient_get(scope=scope, patient_id=patient_id),
        patient_of=lambda patient: patient.id,
    )


def patient_timeline_view(
    *, scope: Scope, patient_id: uuid.UUID, after: int, limit: int
) -> TimelinePage:
    """Everything about the patient, oldest first, paged by position; the read is audited."""
    _, page = audited_read(
        scope=scope,
        permission="timelines.view",
        action="patient.timeline_viewed",
        load=lambda: (
            patient_get(scope=scope, patient_id=patient_id),
            timeline_for_patient(scope=scope, patient_id=patient_id, after=after, limit=limit),
        ),
        patient_of=lambda loaded: loaded[0].id,
    )
    return page
