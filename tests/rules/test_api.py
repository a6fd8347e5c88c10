"""Close-gate rules as tenant configuration: changed through the API, each change an event."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from hm_core.events.models import Event
from hm_core.events.replay import rebuild
from hm_core.rules.models import RuleDefinition
from hm_core.rules.selectors import CLOSE_GATE, rule_set

URL = f"/api/rules/{CLOSE_GATE}/"
NEWS2 = {"fact": "latest_news2", "operator": "lte", "value": 4, "message": "NEWS2 too high."}


def codes(body):
    return [(r["code"], r["enabled"], r["source"]) for r in body["rules"]]


def test_a_tenant_sees_the_default_close_gate_before_defining_anything(world):
    r = world.api("admin").get(URL)

    assert r.status_code == 200
    assert codes(r.json()) == [
        ("vitals_recorded", True, "default"),
        ("assessment_recorded", True, "default"),
        ("plan_recorded", True, "default"),
        ("no_unacknowledged_critical_alert", True, "default"),
    ]


def test_defining_a_rule_is_an_event_on_the_chain_with_the_admin_as_actor(world):
    before = Event.objects.filter(tenant_id=world.tenant.id).count()

    r = world.api("admin").put(f"{URL}news2_low/", {**NEWS2, "order": 5})

    assert r.status_code == 200, r.json()
    assert codes(r.json())[0] == ("news2_low", True, "tenant")
    [event] = Event.objects.filter(tenant_id=world.tenant.id, type="rule.defined")
    assert event.actor_username == world.users["admin"].username
    assert event.payload | {"value": None} == {
        "rule_set": CLOSE_GATE,
        "code": "news2_low",
        "fact": "latest_news2",
        "operator": "lte",
        "value": None,
        "message": "NEWS2 too high.",
        "enabled": True,
        "order": 5,
    }
    assert event.payload["value"] == 4
    assert Event.objects.filter(tenant_id=world.tenant.id).count() == before + 1


def test_switching_a_default_off_overrides_it_and_the_same_request_again_changes_nothing(world):
    admin = world.api("admin")
    body = {"fact": "plan_recorded", "operator": "is_true", "enabled": False, "order": 30}

    first = admin.put(f"{URL}plan_recorded/", body)
    again = admin.put(f"{URL}plan_recorded/", body)

    assert first.status_code == again.status_code == 200
    assert ("plan_recorded", False, "tenant") in codes(again.json())
    assert Event.objects.filter(tenant_id=world.tenant.id, type="rule.defined").count() == 1
    assert "plan_recorded" not in [
        r.code for r in rule_set(tenant_id=world.tenant.id, name=CLOSE_GATE)
    ]


@pytest.mark.parametrize(
    ("code", "body", "field"),
    [
        ("bmi", {"fact": "bmi_recoded", "operator": "is_true"}, "fact"),
        ("news2_low", {"fact": "latest_news2", "operator": "lte"}, "value"),
        ("Bad-Code", {"fact": "plan_recorded", "operator": "is_true"}, "code"),
    ],
)
def test_a_rule_the_engine_could_not_evaluate_is_refused_and_nothing_is_written(
    world, code, body, field
):
    r = world.api("admin").put(f"{URL}{code}/", body)

    assert r.status_code == 422, r.json()
    assert r.json()["error"]["details"][0]["field"] == field
    assert not Event.objects.filter(tenant_id=world.tenant.id, type="rule.defined").exists()
    assert not RuleDefinition.objects.filter(tenant_id=world.tenant.id).exists()


def test_an_unknown_operator_is_a_validation_error(world):
    r = world.api("admin").put(f"{URL}x/", {"fact": "plan_recorded", "operator": "like"})
    assert r.status_code == 422


def test_only_administrators_configure_rules_and_only_their_tenants(world, other_world):
    assert world.api("doctor").get(URL).status_code == 403
    assert world.api("doctor").put(f"{URL}news2_low/", NEWS2).status_code == 403
    assert world.api("admin").get("/api/rules/encounter.nothing/").status_code == 404
    assert world.api("admin").put("/api/rules/encounter.nothing/x/", NEWS2).status_code == 404

    world.api("admin").put(f"{URL}news2_low/", NEWS2)

    assert "news2_low" not in [r["code"] for r in other_world.api("admin").get(URL).json()["rules"]]


def test_a_rebuild_folds_the_same_rules_from_the_events(world):
    admin = world.api("admin")
    admin.put(f"{URL}news2_low/", NEWS2)
    admin.put(
        f"{URL}plan_recorded/", {"fact": "plan_recorded", "operator": "is_true", "enabled": False}
    )
    admin.put(f"{URL}news2_low/", {**NEWS2, "value": 3})
    live = admin.get(URL).json()

    rebuild(["rules"], tenant_ids=[world.tenant.id])

    assert admin.get(URL).json() == live
    assert RuleDefinition.objects.get(tenant_id=world.tenant.id, code="news2_low").value == 3


def test_rules_written_before_they_were_events_are_recorded_once_by_the_backfill(world):
    # given a rule an admin edited in place under the old admin (a row with no event)
    RuleDefinition.objects.create(
        tenant_id=world.tenant.id, rule_set=CLOSE_GATE, code="news2_low", **NEWS2, order=7
    )

    call_command("backfill_config_events", tenant=world.tenant.slug)
    call_command("backfill_config_events", tenant=world.tenant.slug)
    rebuild(["rules"], tenant_ids=[world.tenant.id])

    assert Event.objects.filter(tenant_id=world.tenant.id, type="rule.defined").count() == 1
    row = RuleDefinition.objects.get(tenant_id=world.tenant.id, code="news2_low")
    assert (row.fact, row.operator, row.value, row.order) == ("latest_news2", "lte", 4, 7)
