"""The event catalogue, pinned: a new or renamed event type shows up in this diff for review."""

from __future__ import annotations

import pytest

from hm_core.events.base import DomainEvent, catalogue, register

PINNED = {
    "alert.acknowledged": 1,
    "alert.raised": 2,
    "billing.charge_posted": 1,
    "billing.charge_reversed": 1,
    "document.amended": 1,
    "document.created": 1,
    "document.signed": 1,
    "encounter.assessment_recorded": 1,
    "encounter.cancelled": 1,
    "encounter.checked_in": 1,
    "encounter.closed": 1,
    "encounter.consult_started": 1,
    "encounter.created": 1,
    "encounter.plan_recorded": 1,
    "encounter.vitals_recorded": 1,
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
    "task.cancelled": 1,
    "task.claimed": 1,
    "task.completed": 1,
    "task.created": 1,
    "task.started": 1,
}


def test_the_catalogue_is_pinned():
    found = {t: cls.schema_version for t, cls in catalogue().items() if not t.startswith("test.")}
    assert found == PINNED


def test_event_types_are_dotted_lowercase_past_tense_names():
    for event_type in catalogue():
        module, _, verb = event_type.partition(".")
        assert module.isidentifier() and module.islower(), event_type
        assert verb.islower() and any(w.endswith("ed") for w in verb.split("_")), event_type


def test_a_duplicate_event_type_raises_at_import():
    with pytest.raises(RuntimeError, match="registered twice"):

        class Impostor(DomainEvent):
            event_type = "patient.registered"  # type: ignore[misc]

        register(Impostor)
