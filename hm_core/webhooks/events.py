"""Webhook configuration events. Stream: ("webhook_endpoint", endpoint_id).

An endpoint decides which outside receiver gets a copy of the tenant's events, so registering,
changing and removing one are on the tenant's chain for the auditor. The signing secret is never
in an event (the events are read by auditors and replayed): only the fact that it changed.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

from hm_core.events.base import DomainEvent


class EndpointRegistered(DomainEvent):
    """A tenant admin registered a webhook receiver."""

    event_type: ClassVar[str] = "webhook.endpoint_registered"
    endpoint_id: uuid.UUID
    url: str
    description: str = ""
    event_types: list[str] = []

    def summary(self) -> str:
        return f"Webhook endpoint registered: {urlsplit(self.url).hostname}"


class EndpointUpdated(DomainEvent):
    """A tenant admin changed an endpoint; `changes` holds what changed (never the secret)."""

    event_type: ClassVar[str] = "webhook.endpoint_updated"
    endpoint_id: uuid.UUID
    changes: dict[str, Any] = {}
    secret_rotated: bool = False

    def summary(self) -> str:
        changed = sorted(self.changes) + (["secret"] if self.secret_rotated else [])
        return f"Webhook endpoint changed: {', '.join(changed)}"


class EndpointRemoved(DomainEvent):
    """A tenant admin removed an endpoint; its delivery history stays for audit."""

    event_type: ClassVar[str] = "webhook.endpoint_removed"
    endpoint_id: uuid.UUID

    def summary(self) -> str:
        return "Webhook endpoint removed"
