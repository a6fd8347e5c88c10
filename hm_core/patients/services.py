"""Patient write use-cases: register, update, delete, restore; and audited reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from hm_core.audit.services import audited_read
from hm_core.common.db import violates
from hm_core.common.errors import ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.events.unit_of_work import written_row
from hm_core.patients import domain
from hm_core.patients.errors import DuplicateMrn
from hm_core.patients.events import PatientUpdated
from hm_core.patients.models import BreakGlassGrant, Patient, PatientConsent
from hm_core.patients.selectors import (
    break_glass_get,
    consent_get,
    consent_list,
    patient_get,
    patient_mrn_taken,
    patient_readable_get,
)
from hm_core.timeline.selectors import TimelinePage, timeline_for_patient

STREAM = "patient"
CONSENT_STREAM = "consent"
BREAK_GLASS_STREAM = "break_glass"


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
        # The row its projection wrote, not read back.
        return written_row(Patient, patient_id) or patient_get(scope=scope, patient_id=patient_id)


def patient_update(
    *, scope: Scope, patient_id: uuid.UUID, changes: dict[str, Any], expected_version: int | None
) -> Patient:
    """Apply a partial update; the event carries only the fields that really changed."""

    def decide(patient: Patient) -> list[PatientUpdated]:
        mrn = changes.get("mrn")
        if mrn is not None and patient_mrn_taken(scope=scope, mrn=mrn, exclude=patient_id):
            raise DuplicateMrn()
        return domain.update(_state(patient), changes=changes, today=utcnow().date())

    scope.require("patients.update")
    with scope_active(scope):
        # A confidential patient outside the user's care team is 404 here too: the answer of
        # a PATCH (even an empty one) shows the whole record (contract §18).
        patient_readable_get(scope=scope, patient_id=patient_id)
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
        load=lambda: patient_readable_get(scope=scope, patient_id=patient_id),
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
            patient_readable_get(scope=scope, patient_id=patient_id),
            timeline_for_patient(scope=scope, patient_id=patient_id, after=after, limit=limit),
        ),
        patient_of=lambda loaded: loaded[0].id,
    )
    return page


def patient_consent_record(
    *, scope: Scope, patient_id: uuid.UUID, consent: dict[str, Any]
) -> PatientConsent:
    """Record a consent (category, decision, period) of an active patient; its own stream."""
    scope.require("patients.update")
    with scope_active(scope), transaction.atomic():
        patient = patient_readable_get(scope=scope, patient_id=patient_id)
        consent_id = uuid.uuid4()
        events = domain.record_consent(
            _state(patient), consent_id=consent_id, consent=consent, now=utcnow()
        )
        stream = StreamRef(CONSENT_STREAM, consent_id)
        publish(scope=scope, stream=stream, expected_version=0, events=events)
        return consent_get(scope=scope, consent_id=consent_id)


def patient_consents_view(*, scope: Scope, patient_id: uuid.UUID) -> list[PatientConsent]:
    """The patient's consents, oldest first; a PHI read, audited."""
    _, consents = audited_read(
        scope=scope,
        permission="patients.view",
        action="patient.consents_viewed",
        load=lambda: (
            patient_readable_get(scope=scope, patient_id=patient_id),
            list(consent_list(scope=scope, patient_id=patient_id)),
        ),
        patient_of=lambda loaded: loaded[0].id,
    )
    return consents


def patient_break_glass(*, scope: Scope, patient_id: uuid.UUID, reason: str) -> BreakGlassGrant:
    """Grant the user `BREAK_GLASS_SECONDS` (1 h) of access to a confidential patient, giving a
    reason; the event is the audit record, and a policy alerts the tenant's administrators."""
    scope.require("patients.view")
    user_id = scope.principal.user_id
    if user_id is None:
        raise ValidationFailed("Break-glass is for a signed-in user.")
    with scope_active(scope), transaction.atomic():
        patient = patient_get(scope=scope, patient_id=patient_id)
        grant_id = uuid.uuid4()
        events = domain.break_glass(
            _state(patient),
            grant_id=grant_id,
            user_id=user_id,
            reason=reason,
            expires_at=utcnow() + timedelta(seconds=settings.BREAK_GLASS_SECONDS),
        )
        publish(
            scope=scope,
            stream=StreamRef(BREAK_GLASS_STREAM, grant_id),
            expected_version=0,
            events=events,
        )
        return break_glass_get(scope=scope, grant_id=grant_id)
