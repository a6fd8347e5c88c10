"""Socket test helpers: a client that authenticates and subscribes, and event makers."""

from __future__ import annotations

import json
from typing import Any

from ninja_jwt.tokens import AccessToken

from hm_core.iam.models import Facility, User
from tests.conftest import World


def token(user: User) -> str:
    return str(AccessToken.for_user(user))


def auth_message(world: World, role: str, *, facility: Facility | None = None) -> dict[str, Any]:
    return {
        "type": "auth",
        "token": token(world.users[role]),
        "tenant_id": str(world.tenant.id),
        "facility_id": str((facility or world.main).id),
    }


def event_positions(messages: list[dict[str, Any]]) -> list[int]:
    return [m["position"] for m in messages if m.get("type") == "event"]


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message)
