"""The write side: one announcement per transaction, after the commit, never an error."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.db import connection

from hm_core.events import wakeups
from hm_core.realtime import fanout
from tests.conftest import World
from tests.encounters.conftest import make_encounter

pytestmark = pytest.mark.django_db


def test_a_transaction_announces_its_tenant_once_after_commit(
    world: World, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    # given a listener in place of the realtime one
    seen: list[Any] = []
    monkeypatch.setattr(wakeups, "_commit_listeners", [seen.append])
    # when one transaction runs several commands (create, check in: several events)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        make_encounter(world, "CHECKED_IN")
        # then nothing is announced before the commit
        assert seen == []
    for callback in callbacks:
        callback()
    assert seen == [world.tenant.id]


def test_a_failing_listener_neither_raises_nor_stops_the_others(
    world: World, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    seen: list[Any] = []

    def broken(tenant_id: Any) -> None:
        raise RuntimeError("down")

    monkeypatch.setattr(wakeups, "_commit_listeners", [broken, seen.append])
    with django_capture_on_commit_callbacks(execute=True):
        make_encounter(world, "CHECKED_IN")
    assert seen == [world.tenant.id]


def test_the_realtime_announcer_is_registered() -> None:
    assert fanout.announce in wakeups._commit_listeners


def test_the_mode_follows_the_configuration(settings: Any) -> None:
    settings.REDIS_URL = ""
    assert fanout.mode() == ("notify" if connection.vendor == "postgresql" else "poll")
    settings.REDIS_URL = "redis://127.0.0.1:6379/4"
    assert fanout.mode() == "redis"


def test_announce_inside_a_transaction_sends_nothing_and_never_raises(
    world: World, settings: Any
) -> None:
    # a NOTIFY inside a transaction would wait for its commit (and serialise commits)
    settings.REDIS_URL = ""
    with connection.execute_wrapper(_refuse_notify):
        fanout.announce(world.tenant.id)
    # an unreachable Redis is logged, not raised
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": "hm_rt"},
        }
    }
    with pytest.raises(redis.ConnectionError):  # the publish itself does fail...
        fanout._publish_redis(world.tenant.id)
    fanout.announce(world.tenant.id)  # ...and announce swallows it


def _refuse_notify(execute: Any, sql: str, *args: Any) -> Any:
    assert "pg_notify" not in sql
    return execute(sql, *args)
