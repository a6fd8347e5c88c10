"""What a socket is pushed: one stored event, decoded once per server process."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Item:
    """A committed event as the sockets see it, with the facts visibility and topics need."""

    position: int
    event_type: str
    occurred_at: str
    stream_type: str
    stream_id: uuid.UUID
    facility_id: uuid.UUID
    patient_id: uuid.UUID | None
    encounter_id: uuid.UUID | None
    summary: str
    text: str  # the JSON message, serialised once for every socket it goes to
    confidential: bool = False  # about a confidential patient: its care team only (§18)

    @classmethod
    def build(cls, **facts: Any) -> Item:
        message = {
            "type": "event",
            "position": facts["position"],
            "event_type": facts["event_type"],
            "occurred_at": facts["occurred_at"],
            "stream": {"type": facts["stream_type"], "id": str(facts["stream_id"])},
            "summary": facts["summary"],
        }
        return cls(**facts, text=json.dumps(message, separators=(",", ":")))


@dataclass(frozen=True, slots=True)
class Delivery:
    """A range `(after, upto]` the feed read, with the items of it a socket is to be sent:
    decided once per (viewer, topics) and shared by all the sockets that hold the same."""

    after: int
    upto: int
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Queued instead of the items a slow socket could not hold: read (cursor, upto] yourself."""

    upto: int
