"""Document projections are replay-safe: applying an event twice, or rebuilding, reproduces the
same rows; an older event never moves the head back."""

from __future__ import annotations

from typing import Any

import pytest

from hm_core.documents import services
from hm_core.documents.models import ClinicalDocument, DocumentVersion
from hm_core.events import bus, store
from hm_core.events.replay import rebuild
from tests.conftest import World
from tests.documents.conftest import NOTE

DOCUMENTS = frozenset({"documents"})


@pytest.fixture
def amended(world, encounter) -> ClinicalDocument:
    """A document drafted, signed and amended once (three events, three versions)."""
    scope = world.scope("doctor")
    doc = services.document_create(
        scope=scope, encounter_id=encounter.id, doc_type="progress_note", payload=NOTE
    )
    services.document_sign(scope=scope, document_id=doc.id)
    return services.document_amend(
        scope=scope, document_id=doc.id, payload={"text": "corrected"}, reason="typo"
    )


def _rows(world: World) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tenant = world.tenant.id
    heads = ClinicalDocument.all_tenants.filter(tenant_id=tenant).order_by("id").values()
    versions = DocumentVersion.all_tenants.filter(tenant_id=tenant).order_by("id").values()
    return list(heads), list(versions)


def test_applying_each_event_twice_leaves_one_row_per_version(world, amended):
    # given
    before = _rows(world)
    recorded = store.read_stream(world.tenant.id, amended.id)
    # when
    for item in recorded:
        bus.replay(item, modules=DOCUMENTS)
        bus.replay(item, modules=DOCUMENTS)
    # then
    heads, versions = _rows(world)
    assert (len(heads), len(versions)) == (1, 3)
    assert (heads, versions) == before


def test_an_old_event_replayed_late_does_not_move_the_head_back(world, amended):
    # given
    created, signed, _ = store.read_stream(world.tenant.id, amended.id)
    # when
    bus.replay(signed, modules=DOCUMENTS)
    bus.replay(created, modules=DOCUMENTS)
    # then
    head = ClinicalDocument.all_tenants.get(id=amended.id)
    assert (head.status, head.version) == ("AMENDED", 3)


def test_a_rebuild_reproduces_the_rows_exactly(world, amended):
    # given
    before = _rows(world)
    # when
    report = rebuild(["documents"], tenant_ids=[world.tenant.id])
    # then
    assert report.rows_deleted == 4
    assert _rows(world) == before
    v3 = DocumentVersion.all_tenants.get(document_id=amended.id, version=3)
    v2 = DocumentVersion.all_tenants.get(document_id=amended.id, version=2)
    assert v3.supersedes_id == v2.id
