"""Interop fixtures: real HL7 messages from ../shared/fixtures/hl7 and a channel per world."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from hm_core.interop.models import Channel
from hm_core.interop.services import channel_create
from tests.conftest import World

# Copies of ../shared/fixtures/hl7 (sources and licences in manifest.json), byte for byte.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def hl7_fixture(name: str) -> bytes:
    """A real message as its bytes (BOMs, LF separators and all)."""
    return (FIXTURES / name).read_bytes()


def er7(*segments: str) -> bytes:
    """A message written in a test, segments joined by CR."""
    return "\r".join(segments).encode()


def make_channel(
    world: World, *, app: str | None = None, fac: str = "", **settings: Any
) -> Channel:
    return channel_create(
        scope=world.scope("admin"),
        name=settings.pop("name", f"lis-{uuid.uuid4().hex[:6]}"),
        protocol="hl7v2",
        facility_id=world.main.id,
        sending_application=app or f"APP{uuid.uuid4().hex[:6]}",
        sending_facility=fac,
        **settings,
    )


@pytest.fixture
def channel(world: World) -> Channel:
    return make_channel(world)
