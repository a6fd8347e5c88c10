"""The event catalogue, pinned: a new or renamed event type shows up in this diff for review."""

from __future__ import annotations

import pytest

from hm_core.events.base import DomainEvent, catalogue, register

PINNED = {
    "alert.acknowledged": 1,
    "alert.raised": 2,
    "appointment.booked": 1,
    "appointment.cancelled": 1,
    "appointment.checked_in": 1,
    "appointment.fulfilled": 1,
    "appointment.marked_no_show": 1,
    "appointment.rescheduled": 1,
    "billing.charge_posted": 1,
    "billing.charge_reversed": 1,
    "billing.claim_adjudicated": 1,
    "billing.claim_created": 1,
    "billing.claim_submitted": 1,
    "billing.coverage_added": 2,
    "billing.payer_created": 1,
    "billing.payment_recorded": 1,
    "document.amended": 1,
    "document.created": 1,
    "document.signed": 1,
    "encounter.assessment_recorded": 2,
    "encounter.cancelled": 1,
    "encounter.checked_in": 1,
    "encounter.closed": 1,
    "encounter.consult_started": 1,
    "encounter.created": 1,
    "encounter.plan_recorded": 1,
    "encounter.vitals_recorded": 1,
    "iam.facility_updated": 1,
    "iam.membership_granted": 1,
    "iam.membership_revoked": 1,
    "iam.role_permissions_changed": 1,
    "iam.user_created": 1,
    "iam.user_deactivated": 1,
    "fhir.resource_stored": 1,
    "imaging.instance_stored": 1,
    "imaging.series_received": 1,
    "imaging.study_received": 1,
    "interop.channel_created": 1,
    "interop.channel_updated": 1,
    "lab.result_corrected": 1,
    "lab.result_entered": 1,
    "lab.result_released": 1,
    "lab.result_verified": 2,
    "lab.sample_cancelled": 1,
    "lab.sample_created": 1,
    "lab.sample_received": 1,
    "lab.sample_rejected": 1,
    "notification.cancelled": 1,
    "notification.failed": 1,
    "notification.scheduled": 1,
    "notification.sent": 1,
    "order.cancelled": 1,
    "order.item_completed": 1,
    "order.item_imaged": 1,
    "order.placed": 2,
    "patient.break_glass_granted": 1,
    "patient.consent_recorded": 1,
    "patient.deleted": 1,
    "patient.registered": 3,
    "patient.restored": 1,
    "patient.updated": 3,
    "rule.defined": 1,
    "schedule.created": 1,
    "task.cancelled": 1,
    "task.claimed": 1,
    "task.completed": 1,
    "task.created": 1,
    "task.started": 1,
    "webhook.endpoint_registered": 1,
    "webhook.endpoint_removed": 1,
    "webhook.endpoint_updated": 1,
}


# Past tenses not ending in -ed that event names use.
IRREGULAR_PAST = frozenset({"sent"})


def test_the_catalogue_is_pinned():
    found = {t: cls.schema_version for t, cls in catalogue().items() if not t.startswith("test.")}
    assert found == PINNED


def test_event_types_are_dotted_lowercase_past_tense_names():
    for event_type in catalogue():
        module, _, verb = event_type.partition(".")
        assert module.isidentifier() and module.islower(), event_type
        past = any(w.endswith("ed") or w in IRREGULAR_PAST for w in verb.split("_"))
        assert verb.islower() and past, event_type


def test_a_duplicate_event_type_raises_at_import():
    with pytest.raises(RuntimeError, match="registered twice"):

        class Impostor(DomainEvent):
            event_type = "patient.registered"  # type: ignore[misc]

        register(Impostor)
