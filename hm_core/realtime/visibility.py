"""Who may see which pushed event: the topics a socket may hold, and `event_visible`.

`event_visible` is the one place that decides whether a viewer may see an event at all; the
REST reads' rules live here in their socket form, confidential patients (care team only,
contract §18) included: the feed works out once per batch of events and per viewer which of the
batch's confidential patients that user may not read (`services.patients_hidden_by_viewer`, and
only when the batch has such events that a topic of the viewer's sockets matches), a replaying
socket for itself (`services.patients_hidden`), and passes that set.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from hm_core.common.scope import Principal, Scope
from hm_core.realtime.items import Item

TopicKind = Literal["tasks", "alerts", "encounter", "patient"]

# What each topic needs, as the REST read of the same data does (tasks and alerts lists, the
# encounter and patient timelines).
TOPIC_PERMISSIONS: dict[str, str] = {
    "tasks": "tasks.view",
    "alerts": "alerts.view",
    "encounter": "timelines.view",
    "patient": "timelines.view",
}
# Streams whose events describe the patient as a whole, visible from every facility of the
# tenant (the timeline's rule: demographics travel, clinical facts stay in their facility).
TENANT_WIDE_STREAMS = frozenset({"patient"})


@dataclass(frozen=True)
class Topic:
    kind: TopicKind
    id: uuid.UUID | None = None

    def __str__(self) -> str:
        return self.kind if self.id is None else f"{self.kind}:{self.id}"

    @property
    def permission(self) -> str:
        return TOPIC_PERMISSIONS[self.kind]

    def matches(self, item: Item) -> bool:
        """Whether the event belongs to this topic (visibility aside)."""
        if self.kind == "tasks":
            return item.stream_type == "task"
        if self.kind == "alerts":
            return item.stream_type == "alert"
        if self.kind == "encounter":
            return item.encounter_id == self.id
        return item.patient_id == self.id


@dataclass(frozen=True)
class Viewer:
    """The socket's user in its tenant and facility, as last read from the memberships."""

    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    principal: Principal

    @property
    def scope(self) -> Scope:
        return Scope(
            tenant_id=self.tenant_id, facility_id=self.facility_id, principal=self.principal
        )


class WatchKey(NamedTuple):
    """Whose membership a socket stands on: re-read once per key, whatever its sockets."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    facility_id: uuid.UUID


def event_visible(
    viewer: Viewer, item: Item, hidden_patients: frozenset[uuid.UUID] = frozenset()
) -> bool:
    """Whether `viewer` may see `item` at all: its facility's events, and patient-level facts
    of the tenant; never an event about a confidential patient the viewer is not on the care
    team of (`hidden_patients`: those of the batch, from `services.patients_hidden`). The
    single visibility decision of the socket."""
    if item.confidential and item.patient_id in hidden_patients:
        return False
    if item.facility_id == viewer.facility_id:
        return True
    return item.stream_type in TENANT_WIDE_STREAMS


def topic_wanted(viewer: Viewer, topics: frozenset[Topic], item: Item) -> bool:
    """Whether a topic the socket holds the permission for matches `item`."""
    return any(topic.matches(item) and viewer.principal.may(topic.permission) for topic in topics)


def push_wanted(
    viewer: Viewer,
    topics: frozenset[Topic],
    item: Item,
    hidden_patients: frozenset[uuid.UUID] = frozenset(),
) -> bool:
    """Whether the socket gets `item`: a topic it holds the permission for matches, and the
    viewer may see the event."""
    return event_visible(viewer, item, hidden_patients) and topic_wanted(viewer, topics, item)


def confidential_wanted(
    viewer: Viewer, topics: frozenset[Topic], items: Iterable[Item]
) -> set[uuid.UUID]:
    """The confidential patients of `items` whose events would reach this viewer and topics
    but for the care-team rule: the only ones worth asking `patients_hidden` about."""
    return {
        item.patient_id
        for item in items
        if item.confidential
        and item.patient_id is not None
        and topic_wanted(viewer, topics, item)
        and event_visible(viewer, item)
    }


def pushes(
    viewer: Viewer,
    topics: frozenset[Topic],
    items: Iterable[Item],
    hidden_patients: frozenset[uuid.UUID] = frozenset(),
) -> tuple[Item, ...]:
    """The items of a batch a socket of this viewer and topics gets: decided once per
    (viewer, topics) by the feed, shared by every socket that holds the same."""
    return tuple(item for item in items if push_wanted(viewer, topics, item, hidden_patients))


def parse_topic(raw: object) -> Topic | None:
    """`"tasks"`, `"alerts"`, `"encounter:<uuid>"`, `"patient:<uuid>"`; None if malformed."""
    if not isinstance(raw, str):
        return None
    if raw in ("tasks", "alerts"):
        return Topic(raw)  # type: ignore[arg-type]
    kind, _, rest = raw.partition(":")
    if kind not in ("encounter", "patient"):
        return None
    try:
        return Topic(kind, uuid.UUID(rest))  # type: ignore[arg-type]
    except ValueError:
        return None
