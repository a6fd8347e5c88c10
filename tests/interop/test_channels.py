"""Channels: tenant configuration through the API, each change an event on the chain."""

from __future__ import annotations

from typing import Any

import pytest

from hm_core.events.models import Event
from tests.conftest import World

URL = "/api/interop/channels/"


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Main LIS",
        "protocol": "hl7v2",
        "facility_id": str(world.main.id),
        "sending_application": "LIS",
        "sending_facility": "LAB",
        **overrides,
    }


def test_channel_create_appends_an_event_and_answers_the_channel(world):
    # when
    response = world.api("admin").post(
        URL,
        _body(
            world, outbound_events=["order.placed"], outbound_host="127.0.0.1", outbound_port=2576
        ),
    )

    # then
    assert response.status_code == 201, response.content
    channel = response.json()
    assert channel["sending_application"] == "LIS" and channel["version"] == 1
    assert response["ETag"] == '"1"'
    event = Event.objects.get(stream_id=channel["id"])
    assert event.type == "interop.channel_created"
    assert event.facility_id == world.main.id
    assert event.actor_username == "admin@acme"


def test_channel_update_records_only_the_changed_settings(world):
    # given
    channel = world.api("admin").post(URL, _body(world)).json()

    # when
    response = world.api("admin").patch(
        f"{URL}{channel['id']}/",
        {"is_active": False, "name": "Main LIS"},
        headers={"If-Match": '"1"'},
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False and response.json()["version"] == 2
    updated = Event.objects.get(stream_id=channel["id"], type="interop.channel_updated")
    assert updated.payload["changes"] == {"is_active": False}


def test_channel_update_with_a_stale_if_match_is_412(world):
    channel = world.api("admin").post(URL, _body(world)).json()
    response = world.api("admin").patch(
        f"{URL}{channel['id']}/", {"name": "x"}, headers={"If-Match": '"7"'}
    )
    assert response.status_code == 412


def test_the_sender_pair_is_unique_across_the_deployment(world, other_world):
    # given
    assert world.api("admin").post(URL, _body(world)).status_code == 201

    # when
    response = other_world.api("admin").post(URL, _body(other_world))

    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "channel_conflict"
    assert Event.objects.filter(tenant_id=other_world.tenant.id).count() == 0


def test_the_same_application_from_another_facility_is_another_channel(world):
    assert world.api("admin").post(URL, _body(world)).status_code == 201
    response = world.api("admin").post(URL, _body(world, sending_facility="LAB2"))
    assert response.status_code == 201


def test_a_renamed_sender_may_not_take_another_channels_pair(world):
    world.api("admin").post(URL, _body(world))
    second = world.api("admin").post(URL, _body(world, sending_facility="OTHER")).json()
    response = world.api("admin").patch(f"{URL}{second['id']}/", {"sending_facility": "LAB"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sending_application": ""}, "sending_application"),
        ({"protocol": "dicom"}, "ae_title"),
        ({"outbound_host": "127.0.0.1"}, "outbound_port"),
        ({"outbound_events": ["patient.registered"]}, "outbound_events"),
    ],
)
def test_invalid_channels_are_422_and_write_nothing(world, overrides, field):
    response = world.api("admin").post(URL, _body(world, **overrides))
    assert response.status_code == 422, response.content
    assert Event.objects.filter(type="interop.channel_created").count() == 0


def test_a_facility_of_another_tenant_is_refused(world, other_world):
    response = world.api("admin").post(URL, _body(world, facility_id=str(other_world.main.id)))
    assert response.status_code == 422


@pytest.mark.parametrize("role", ["doctor", "nurse", "lab_tech", "auditor", "integration"])
def test_only_admins_configure_channels(world, role):
    assert world.api(role).post(URL, _body(world)).status_code == 403
    assert world.api(role).get(URL).status_code == 403


def test_channels_of_another_tenant_are_invisible(world, other_world):
    # given
    channel = world.api("admin").post(URL, _body(world)).json()

    # then
    outsider = other_world.api("admin")
    assert outsider.get(URL).json() == {"items": [], "count": 0}
    assert outsider.get(f"{URL}{channel['id']}/").status_code == 404
    assert outsider.patch(f"{URL}{channel['id']}/", {"name": "x"}).status_code == 404
    assert world.api("admin").get(URL).json()["count"] == 1


def test_channels_are_tenant_configuration_seen_from_every_facility(world):
    channel = world.api("admin").post(URL, _body(world)).json()
    annex_admin = world.api("admin", facility=world.annex)
    assert annex_admin.get(f"{URL}{channel['id']}/").status_code == 200
