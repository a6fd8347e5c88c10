"""The event catalogue, pinned: a new or renamed event type shows up in this diff for review."""

from __future__ import annotations

import pytest

from hm_core.events.base import DomainEvent, catalogue, register

PINNED = {
    "patient.deleted": 1,
    "patient.registered": 1,
    "patient.restored": 1,
    "patient.updated": 1,
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
