"""The store of resources kept as sent: rebuild equivalence, versions, isolation, export audit."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from hm_core.common.scope import ScopeNotActive, scope_active
from hm_core.events.models import Event
from hm_core.events.replay import rebuild
from hm_core.fhir.models import StoredCode, StoredIdentifier, StoredResource
from hm_core.fhir.stored import stored_list
from tests.fhir.conftest import FHIR
from tests.fhir.test_transaction import bundle, post


def rows(tenant_id) -> list[dict]:
    return [
        model_to_dict(r) | {"pk": str(r.pk)}
        for model in (StoredResource, StoredIdentifier, StoredCode)
        for r in model.all_tenants.filter(tenant_id=tenant_id).order_by("pk")
    ]


def test_rebuild_reproduces_the_stored_resources(world):
    # given
    post(world.api(), bundle("desmond_gutmann.json"))
    live = rows(world.tenant.id)
    events = Event.objects.filter(tenant_id=world.tenant.id).count()
    # when
    rebuild(["fhir"], tenant_ids=[world.tenant.id])
    # then
    assert live
    assert StoredCode.all_tenants.filter(tenant_id=world.tenant.id).exists()
    assert rows(world.tenant.id) == live
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == events


def test_a_changed_resource_is_a_new_version_and_the_old_one_stays_readable(world):
    # given
    api = world.api()
    source = bundle("desmond_gutmann.json")
    first = post(api, source).json()
    index = next(
        i for i, e in enumerate(source["entry"]) if e["resource"]["resourceType"] == "Condition"
    )
    source["entry"][index]["resource"]["note"] = [{"text": "reviewed"}]
    # when
    again = post(api, source).json()
    # then
    location = again["entry"][index]["response"]["location"]
    assert again["entry"][index]["response"]["status"] == "200 OK"
    assert location.endswith("/_history/2")
    assert first["entry"][index]["response"]["location"].endswith("/_history/1")
    path = location.split("/_history")[0]
    assert api.get(f"{FHIR}/{path}").json()["note"] == [{"text": "reviewed"}]
    old = api.get(f"{FHIR}/{path}/_history/1").json()
    assert "note" not in old
    assert old["meta"]["versionId"] == "1"


def test_the_store_is_the_importing_facility_s_and_fails_closed(world, other_world):
    # given
    api = world.api()
    body = post(api, bundle("desmond_gutmann.json")).json()
    condition = next(
        e["response"]["location"].split("/_history")[0]
        for e in body["entry"]
        if e["response"]["location"].startswith("Condition/")
    )
    # then
    assert api.get(f"{FHIR}/{condition}").status_code == 200
    assert world.api("admin", facility=world.annex).get(f"{FHIR}/{condition}").status_code == 404
    assert other_world.api().get(f"{FHIR}/{condition}").status_code == 404
    assert other_world.api().get(f"{FHIR}/Condition").json()["total"] == 0
    with pytest.raises(ScopeNotActive):
        list(stored_list(scope=world.scope(), resource_type="Condition"))
    with scope_active(world.scope()):
        assert stored_list(scope=world.scope(), resource_type="Condition").count() > 0
