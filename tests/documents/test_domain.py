"""Document decisions, without a database: given a state, when a decision, then events or an error."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hm_core.common.errors import InvalidTransition, ValidationFailed
from hm_core.documents import domain
from hm_core.documents.events import DocumentAmended, DocumentCreated, DocumentSigned

DOC, ENC, PAT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
CONTENT = {"text": "Chest clear."}


def _state(status: str, version: int, payload: dict[str, Any] | None = None):
    return domain.DocumentState(
        document_id=DOC,
        encounter_id=ENC,
        patient_id=PAT,
        doc_type="progress_note",
        status=status,
        version=version,
        payload=payload if payload is not None else CONTENT,
    )


def _create(encounter_status: str = "CHECKED_IN", **kw: Any) -> list[DocumentCreated]:
    args: dict[str, Any] = {"doc_type": "progress_note", "payload": CONTENT} | kw
    return domain.create(
        document_id=DOC,
        encounter_id=ENC,
        patient_id=PAT,
        encounter_status=encounter_status,
        **args,
    )


@pytest.mark.parametrize("encounter_status", ["CHECKED_IN", "IN_CONSULT", "CLOSED"])
def test_create_drafts_version_one(encounter_status):
    # when
    [event] = _create(encounter_status)
    # then
    assert isinstance(event, DocumentCreated)
    assert (event.version, event.payload, event.doc_type) == (1, CONTENT, "progress_note")
    assert (event.document_id, event.encounter_id, event.patient_id) == (DOC, ENC, PAT)
    assert event.summary() == "Progress note created (draft v1)"


@pytest.mark.parametrize("encounter_status", ["SCHEDULED", "CANCELLED"])
def test_create_fails_when_the_encounter_is_not_under_way(encounter_status):
    with pytest.raises(InvalidTransition) as exc:
        _create(encounter_status)
    assert exc.value.details["from"] is None
    assert exc.value.details["encounter_status"] == encounter_status


def test_sign_freezes_the_draft_content_as_a_new_final_version():
    # given
    state = _state(domain.DRAFT, 1)
    # when
    [event] = domain.sign(state, encounter_status="IN_CONSULT")
    # then
    assert isinstance(event, DocumentSigned)
    assert (event.version, event.payload) == (2, CONTENT)
    assert event.summary() == "Progress note signed (final v2)"


@pytest.mark.parametrize("status", [domain.FINAL, domain.AMENDED])
def test_sign_fails_unless_draft(status):
    with pytest.raises(InvalidTransition) as exc:
        domain.sign(_state(status, 3), encounter_status="CLOSED")
    assert exc.value.code == "invalid_transition"
    assert exc.value.details["from"] == status


@pytest.mark.parametrize(("status", "version"), [(domain.FINAL, 2), (domain.AMENDED, 3)])
def test_amend_supersedes_the_latest_version(status, version):
    # when
    [event] = domain.amend(
        _state(status, version),
        encounter_status="CLOSED",
        payload={"text": "Chest clear. Mild wheeze."},
        reason=" late correction ",
    )
    # then
    assert isinstance(event, DocumentAmended)
    assert event.version == version + 1
    assert event.supersedes_version == version
    assert event.payload == {"text": "Chest clear. Mild wheeze."}
    assert event.reason == "late correction"
    assert event.summary() == (
        f"Progress note amended (v{version + 1}, supersedes v{version}): late correction"
    )


def test_amend_fails_on_a_draft():
    with pytest.raises(InvalidTransition) as exc:
        domain.amend(_state(domain.DRAFT, 1), encounter_status="IN_CONSULT", payload={}, reason="x")
    assert exc.value.details["from"] == domain.DRAFT


@pytest.mark.parametrize(
    ("decide", "status"),
    [
        (lambda s: domain.sign(s, encounter_status="CANCELLED"), domain.DRAFT),
        (lambda s: domain.amend(s, encounter_status="CANCELLED", payload={}, reason="x"), "FINAL"),
    ],
)
def test_nothing_is_attested_on_a_cancelled_encounter(decide, status):
    with pytest.raises(InvalidTransition) as exc:
        decide(_state(status, 2))
    assert exc.value.details == {
        "from": status,
        "action": exc.value.details["action"],
        "encounter_status": "CANCELLED",
    }


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_amend_needs_a_reason(reason):
    with pytest.raises(ValidationFailed) as exc:
        domain.amend(_state(domain.FINAL, 2), encounter_status="CLOSED", payload={}, reason=reason)
    assert exc.value.details[0]["field"] == "reason"


@pytest.mark.parametrize(
    "payload",
    [
        ["not", "an", "object"],
        "text",
        {"big": "x" * (domain.MAX_PAYLOAD_BYTES + 1)},
        {"temp": float("nan")},
        {"when": object()},
        {"text": "a\x00b"},
        {"key\x00": 1},
    ],
)
def test_payload_must_be_a_json_object_of_at_most_64_kb(payload):
    with pytest.raises(ValidationFailed) as exc:
        _create(payload=payload)
    assert exc.value.details[0]["field"] == "payload"


def test_payload_size_counts_utf8_bytes_of_compact_json():
    # given: 2-byte characters make 40 000 characters weigh over 64 KB
    payload = {"t": "é" * 40_000}
    # then
    assert domain.payload_size({"a": 1}) == len('{"a":1}')
    with pytest.raises(ValidationFailed):
        domain.check_payload(payload)


def test_a_payload_of_exactly_the_limit_is_accepted():
    overhead = domain.payload_size({"t": ""})
    payload = {"t": "x" * (domain.MAX_PAYLOAD_BYTES - overhead)}
    assert domain.check_payload(payload) is payload


@pytest.mark.parametrize(
    "doc_type", ["", "Progress_Note", "progress note", "_note", "note-", "a" * 65, "notes/1"]
)
def test_doc_type_must_be_a_lowercase_slug(doc_type):
    with pytest.raises(ValidationFailed) as exc:
        _create(doc_type=doc_type)
    assert exc.value.details[0]["field"] == "doc_type"


@pytest.mark.parametrize("doc_type", ["progress_note", "discharge-summary", "soap2", "a" * 64])
def test_doc_type_accepts_short_codes(doc_type):
    assert _create(doc_type=doc_type)[0].doc_type == doc_type
