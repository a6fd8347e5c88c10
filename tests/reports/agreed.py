"""Events of the scheduling and claims modules, by the names and payloads agreed between the
branches (`appointment.*`, `billing.claim_*`, `billing.payment_recorded`).

Where this checkout has those modules, their own classes are used; where it has not yet, a
stand-in class with exactly the agreed fields is registered for the test and removed after it,
so the report projections are proven against the agreed payloads either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from hm_core.common.scope import Scope
from hm_core.events import base
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish


def _stand_in(event_type: str) -> type[DomainEvent]:
    """A permissive class for an agreed type this checkout does not have yet."""

    class AgreedEvent(DomainEvent):
        model_config = {"frozen": True, "extra": "allow"}
        event_type: ClassVar[str] = "test.placeholder"

    base._REGISTRY.pop("test.placeholder", None)
    AgreedEvent.event_type = event_type
    base.register(AgreedEvent)
    return AgreedEvent


@contextmanager
def agreed_events(*types: str) -> Iterator[None]:
    """Make sure each agreed type can be published; remove the stand-ins afterwards."""
    added = [t for t in types if t not in base.catalogue()]
    for event_type in added:
        _stand_in(event_type)
    try:
        yield
    finally:
        for event_type in added:
            base._REGISTRY.pop(event_type, None)


def publish_agreed(
    scope: Scope, event_type: str, *, stream: tuple[str, uuid.UUID], **payload: Any
) -> None:
    """Publish one agreed event with its payload as JSON would carry it."""
    cls = base.event_class(event_type)
    event = cls.model_validate({k: _json(v) for k, v in payload.items()})
    publish(scope=scope, stream=StreamRef(*stream), expected_version=None, events=[event])


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value
