"""Tenant and facility isolation of the laboratory: another scope's sample, result or order item
is a 404 exactly like a missing one, never shows in a list or a count, and is never written."""

from __future__ import annotations

import uuid

import pytest

from hm_core.common.scope import ScopeNotActive
from hm_core.events.models import Event
from hm_core.lab.models import LabResult, Sample
from hm_core.lab.selectors import SampleFilters, lab_result_get, sample_get, sample_list
from tests.conftest import Api
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import K_NORMAL, enter, item_of, place_order, receive, samples_of


@pytest.fixture
def case(lab_world) -> dict:
    """At main: a K + CBC order, both samples received, the K result released."""
    world = lab_world
    doctor, tech, tech2 = world.api("doctor"), world.api("lab_tech"), world.api("lab_tech2")
    encounter = make_encounter(world, "CHECKED_IN")
    order = place_order(doctor, encounter, "K", "CBC")
    samples = samples_of(tech, order)
    for sample in samples:
        receive(tech, sample)
    result = enter(tech, item_of(order, "K")["id"], K_NORMAL).json()
    assert tech2.post(f"/api/lab/results/{result['id']}/verify/").status_code == 200
    assert tech.post(f"/api/lab/results/{result['id']}/release/").status_code == 200
    return {
        "encounter": encounter,
        "order": order,
        "sample": samples[0],
        "result": result,
        "free_item": item_of(order, "CBC")["id"],
    }


def _probes(api: Api, sample_id: str, result_id: str, item_id: str) -> list[tuple[int, dict]]:
    s, r = f"/api/lab/samples/{sample_id}/", f"/api/lab/results/{result_id}/"
    responses = [
        api.get(s),
        api.post(f"{s}receive/", {"barcode": "PROBE-1", "received_at": "2020-01-01T00:00:00Z"}),
        api.post(f"{s}reject/", {"reason": "probe"}),
        enter(api, item_id, K_NORMAL),
        api.get(r),
        api.get(f"{r}versions/"),
        api.post(f"{r}verify/"),
        api.post(f"{r}release/"),
        api.post(f"{r}correct/", {"result_payload": K_NORMAL, "reason": "probe"}),
    ]
    return [(resp.status_code, resp.json()) for resp in responses]


@pytest.fixture(params=["other_tenant", "other_facility"])
def outsider(request, lab_world, other_world) -> Api:
    """An administrator (every permission) of another tenant, or of the world's annex."""
    if request.param == "other_tenant":
        return other_world.api("admin")
    return lab_world.api("admin", facility=lab_world.annex)


def test_another_scope_gets_404_exactly_like_a_missing_id(lab_world, case, outsider):
    # given
    events_before = Event.objects.count()
    # when
    probes = _probes(outsider, case["sample"]["id"], case["result"]["id"], case["free_item"])
    missing = _probes(outsider, *(str(uuid.uuid4()) for _ in range(3)))
    # then
    assert [status for status, _ in probes] == [404] * 9
    assert probes == missing
    assert Event.objects.count() == events_before
    assert LabResult.all_tenants.count() == 1


def test_another_scope_sees_nothing_in_lists(lab_world, case, outsider):
    encounter, order = str(case["encounter"].id), case["order"]["id"]
    for path, params in [
        ("/api/lab/samples/", {}),
        ("/api/lab/samples/", {"order": order}),
        ("/api/lab/samples/", {"encounter": encounter}),
        ("/api/lab/samples/", {"status": "RECEIVED"}),
        ("/api/lab/results/", {}),
        ("/api/lab/results/", {"encounter": encounter}),
        ("/api/lab/results/", {"order": order, "status": "RELEASED"}),
    ]:
        page = outsider.get(path, params)
        assert page.status_code == 200, (path, page.json())
        assert page.json() == {"items": [], "count": 0}, (path, params)


def test_the_owner_sees_its_own_rows(lab_world, case):
    admin = lab_world.api("admin")
    assert admin.get("/api/lab/samples/").json()["count"] == 2
    assert admin.get("/api/lab/results/").json()["count"] == 1


def test_an_unscoped_selector_call_raises(lab_world, case):
    scope = lab_world.scope("lab_tech")
    with pytest.raises(ScopeNotActive):
        sample_get(scope=scope, sample_id=uuid.UUID(case["sample"]["id"]))
    with pytest.raises(ScopeNotActive):
        lab_result_get(scope=scope, result_id=uuid.UUID(case["result"]["id"]))
    with pytest.raises(ScopeNotActive):
        list(sample_list(scope=scope, filters=SampleFilters()))
    with pytest.raises(ScopeNotActive):
        Sample.objects.count()


def test_samples_of_an_annex_order_live_at_the_annex(lab_world):
    annex = lab_world.api("admin", facility=lab_world.annex)
    encounter = make_encounter(lab_world, "CHECKED_IN", facility=lab_world.annex)
    order = place_order(annex, encounter, "K")
    (sample,) = samples_of(annex, order)
    assert sample["facility_id"] == str(lab_world.annex.id)
    assert lab_world.api("admin").get(f"/api/lab/samples/{sample['id']}/").status_code == 404
