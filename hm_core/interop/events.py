"""Interface configuration events. Stream: ("interop_channel", channel_id), in the facility the
channel serves. Channels decide which outside systems may write into a tenant, so every change is
on the tenant's chain for the auditor, like any clinical fact."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from hm_core.events.base import DomainEvent


class ChannelCreated(DomainEvent):
    """A tenant admin registered an interface channel (an outside system, in or out)."""

    event_type: ClassVar[str] = "interop.channel_created"
    channel_id: uuid.UUID
    name: str
    protocol: str
    settings: dict[str, Any]

    def summary(self) -> str:
        return f"Interface channel created: {self.name} ({self.protocol})"


class ChannelUpdated(DomainEvent):
    """A tenant admin changed a channel; `changes` holds the changed settings only."""

    event_type: ClassVar[str] = "interop.channel_updated"
    channel_id: uuid.UUID
    changes: dict[str, Any]

    def summary(self) -> str:
        return f"Interface channel updated: {', '.join(sorted(self.changes))}"
