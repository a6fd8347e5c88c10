"""Tenant and facility isolation of clinical documents: another scope's document is a 404,
exactly like a missing one, and never shows in a list or a count."""

from __future__ import annotations

import uuid

import pytest

from hm_core.common.scope import ScopeNotActive
from hm_core.documents.models import ClinicalDocument
from hm_core.documents.selectors import DocumentFilters, document_get, document_list
from hm_core.events.models import Event
from tests.conftest import Api
from tests.documents.conftest import create_body, make_encounter

BASE = "/api/clinical-docs/"
AMEND = {"payload": {"text": "forged"}, "reason": "probe"}


@pytest.fixture
def document(world):
    """A signed document of an encounter at the world's main facility."""
    encounter = make_encounter(world)
    doctor = world.api("doctor")
    doc = doctor.post(BASE, create_body(encounter)).json()
    assert doctor.post(f"{BASE}{doc['id']}/sign/").status_code == 200
    return doc


def _probes(api: Api, doc_id: str) -> list[tuple[int, dict]]:
    responses = [
        api.get(f"{BASE}{doc_id}/"),
        api.get(f"{BASE}{doc_id}/versions/"),
        api.post(f"{BASE}{doc_id}/sign/"),
        api.post(f"{BASE}{doc_id}/amend/", AMEND),
    ]
    return [(r.status_code, r.json()) for r in responses]


def _missing(api: Api) -> list[tuple[int, dict]]:
    return _probes(api, str(uuid.uuid4()))


@pytest.fixture(params=["other_tenant", "other_facility"])
def outsider(request, world, other_world) -> Api:
    """The doctor of another tenant, or the same doctor working at the annex facility."""
    if request.param == "other_tenant":
        return other_world.api("doctor")
    return world.api("doctor", facility=world.annex)


def test_another_scope_gets_404_exactly_like_a_missing_document(world, document, outsider):
    # when
    probes = _probes(outsider, document["id"])
    # then
    assert [status for status, _ in probes] == [404] * 4
    assert probes == _missing(outsider)
    assert Event.objects.filter(stream_id=document["id"]).count() == 2  # nothing appended


def test_another_scope_sees_nothing_in_lists(world, document, outsider):
    encounter = document["encounter"]
    for params in ({}, {"encounter": encounter}, {"patient": document["patient_id"]}):
        page = outsider.get(BASE, params)
        assert page.status_code == 200
        assert page.json() == {"items": [], "count": 0}


def test_a_document_cannot_be_written_for_another_scopes_encounter(world, other_world):
    # given
    annex_encounter = make_encounter(world, facility=world.annex)
    rival_encounter = make_encounter(other_world)
    # when
    from_main = world.api("doctor").post(BASE, create_body(annex_encounter))
    from_rival_tenant = world.api("doctor").post(BASE, create_body(rival_encounter))
    # then
    assert from_main.status_code == from_rival_tenant.status_code == 404
    assert from_main.json()["error"]["details"] == {"resource": "encounter"}
    assert not ClinicalDocument.all_tenants.exists()


def test_the_owner_still_sees_the_document_and_counts_only_its_own(world, other_world, document):
    # given: the rival tenant has documents of its own
    rival = other_world.api("doctor")
    rival.post(BASE, create_body(make_encounter(other_world)))
    # then
    assert world.api("doctor").get(BASE).json()["count"] == 1
    assert rival.get(BASE).json()["count"] == 1
    assert world.api("doctor").get(f"{BASE}{document['id']}/").status_code == 200


def test_unscoped_selector_calls_fail_closed(world, document):
    scope = world.scope("doctor")
    with pytest.raises(ScopeNotActive):
        document_get(scope=scope, document_id=uuid.UUID(document["id"]))
    with pytest.raises(ScopeNotActive):
        list(document_list(scope=scope, filters=DocumentFilters()))
