"""The contract's timeline item (§4), shared by patient and encounter timelines."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import DB_INT_MAX, FilterSchema
from hm_core.events.base import revealed_payload
from hm_core.timeline.models import TimelineEntry
from hm_core.timeline.selectors import TimelinePage


class ActorOut(Schema):
    id: uuid.UUID | None
    username: str


class StreamOut(Schema):
    type: str
    id: uuid.UUID


class TimelineItemOut(Schema):
    position: int
    event_id: uuid.UUID
    type: str
    occurred_at: datetime
    actor: ActorOut
    facility_id: uuid.UUID
    stream: StreamOut
    summary: str
    data: dict[str, Any]


class TimelineOut(Schema):
    items: list[TimelineItemOut]
    next: int | None


class TimelineParams(FilterSchema):
    after: int = Field(0, ge=0, le=DB_INT_MAX)
    limit: int = Field(50, ge=1, le=200)


def timeline_item(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "event_id": entry.event_id,
        "type": entry.event_type,
        "occurred_at": entry.occurred_at,
        "actor": {"id": entry.actor_id, "username": entry.actor_username},
        "facility_id": entry.facility_id,
        "stream": {"type": entry.stream_type, "id": entry.stream_id},
        "summary": entry.summary,
        "data": revealed_payload(entry.event_type, entry.data),
    }


def timeline_out(page: TimelinePage) -> dict[str, Any]:
    return {"items": [timeline_item(entry) for entry in page.items], "next": page.next}
