"""Document services: one call appends one event and updates the read model, the timeline and
the audit trail together; signatures belong to people; a lost race is refused."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from hm_core.audit.models import AuditRecord
from hm_core.common.errors import Forbidden, HmError
from hm_core.common.scope import Principal, Scope
from hm_core.documents import services
from hm_core.documents.models import DocumentVersion
from hm_core.events import store
from hm_core.timeline.models import TimelineEntry
from tests.documents.conftest import NOTE, make_encounter


def test_document_create_writes_event_read_model_timeline_and_audit_together(world, encounter):
    # given
    scope = world.scope("nurse")
    # when
    doc = services.document_create(
        scope=scope, encounter_id=encounter.id, doc_type="progress_note", payload=NOTE
    )
    # then: the stream
    [recorded] = store.read_stream(world.tenant.id, doc.id)
    assert (recorded.meta.stream.type, recorded.meta.stream_version) == ("document", 1)
    assert recorded.meta.request_id == scope.context.request_id
    assert recorded.event.to_payload() == {
        "document_id": str(doc.id),
        "encounter_id": str(encounter.id),
        "patient_id": str(encounter.patient_id),
        "version": 1,
        "doc_type": "progress_note",
        "payload": NOTE,
    }
    # then: the read model
    assert (doc.status, doc.version, doc.created_by, doc.facility_id) == (
        "DRAFT",
        1,
        "nurse@acme",
        world.main.id,
    )
    assert doc.current is not None and doc.current.id == recorded.meta.event_id
    assert DocumentVersion.all_tenants.filter(document_id=doc.id).count() == 1
    # then: the timeline and the audit trail
    entry = TimelineEntry.all_tenants.get(event_id=recorded.meta.event_id)
    assert (entry.encounter_id, entry.patient_id) == (encounter.id, encounter.patient_id)
    audit = AuditRecord.all_tenants.get(event_id=recorded.meta.event_id)
    assert (audit.action, audit.patient_id) == ("document.created", encounter.patient_id)


def test_only_a_person_signs(world, encounter):
    # given
    doc = services.document_create(
        scope=world.scope("doctor"), encounter_id=encounter.id, doc_type="note", payload=NOTE
    )
    system = Scope(world.tenant.id, world.main.id, Principal.system())
    # when / then
    with pytest.raises(Forbidden):
        services.document_sign(scope=system, document_id=doc.id)
    with pytest.raises(Forbidden):
        services.document_amend(scope=system, document_id=doc.id, payload={}, reason="x")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_amendments_of_one_version_never_both_succeed(world):
    # given: a signed document at version 2
    scope = world.scope("doctor")
    encounter = make_encounter(world)
    doc = services.document_create(
        scope=scope, encounter_id=encounter.id, doc_type="note", payload=NOTE
    )
    services.document_sign(scope=scope, document_id=doc.id)
    barrier, outcomes, lock = threading.Barrier(4), [], threading.Lock()

    def amend(n: int) -> None:
        try:
            barrier.wait()
            services.document_amend(
                scope=scope,
                document_id=doc.id,
                payload={"n": n},
                reason=f"writer {n}",
                expected_version=2,
            )
            outcome: object = "ok"
        except HmError as exc:  # collected and asserted on below
            outcome = exc.code
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    # when
    threads = [threading.Thread(target=amend, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # then: one winner; the others lost the race (409) or saw the new version (412)
    assert outcomes.count("ok") == 1
    assert set(outcomes) - {"ok"} <= {"version_conflict", "version_mismatch"}
    assert len(outcomes) == 4
    assert DocumentVersion.all_tenants.filter(document_id=doc.id).count() == 3
