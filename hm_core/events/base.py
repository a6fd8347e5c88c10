"""The event base class, the registry of event types and the metadata subscribers receive.

Events are frozen pydantic models with an explicit `event_type` ("patient.registered") and
`schema_version`. Stored rows name the type string, never a module path, so a class can be
renamed freely; a payload change bumps `schema_version` and adds an upcaster beside the class.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hm_core.common.scope import Principal, RequestContext, Scope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_REGISTRY: dict[str, type[DomainEvent]] = {}


class DomainEvent(BaseModel):
    """Base of every event: a fact, in the past tense, holding ids and values only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    # upcasters[n] turns a stored payload of version n into version n + 1.
    upcasters: ClassVar[dict[int, Upcaster]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            register(cls)

    def to_payload(self) -> dict[str, Any]:
        """JSON-native payload: UUIDs, dates and decimals become strings."""
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: dict[str, Any], version: int) -> DomainEvent:
        """Rebuild an event from a stored payload of any older version."""
        while version < cls.schema_version:
            payload = cls.upcasters[version](payload)
            version += 1
        return cls.model_validate(payload)

    @classmethod
    def revealed(cls, payload: dict[str, Any]) -> dict[str, Any]:
        """The stored payload as an authorised reader sees it: events whose payload holds
        encrypted fields (contract §18) decrypt them here; the others are shown as stored."""
        return payload

    def summary(self) -> str:
        """One human line for timelines; events override it with their clinical facts."""
        return self.event_type.replace(".", " ").replace("_", " ").capitalize()

    def patient_ref(self) -> uuid.UUID | None:
        """The patient this event is about, if any: it puts the event on that timeline."""
        value = getattr(self, "patient_id", None)
        return value if isinstance(value, uuid.UUID) else None

    def encounter_ref(self) -> uuid.UUID | None:
        """The encounter this event belongs to, if any."""
        value = getattr(self, "encounter_id", None)
        return value if isinstance(value, uuid.UUID) else None


def register(cls: type[DomainEvent]) -> None:
    """Add an event class to the registry; a duplicate type string is a programming error."""
    existing = _REGISTRY.get(cls.event_type)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise RuntimeError(f"event type {cls.event_type!r} registered twice ({existing}, {cls})")
    _REGISTRY[cls.event_type] = cls


def event_class(event_type: str) -> type[DomainEvent]:
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise LookupError(f"unknown event type {event_type!r}") from None


def revealed_payload(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload as an authorised reader or a tenant's own integration sees it: fields
    encrypted at rest (contract §18) in plaintext. Unknown types are shown as stored."""
    try:
        cls = event_class(event_type)
    except LookupError:
        return payload
    return cls.revealed(payload)


def catalogue() -> dict[str, type[DomainEvent]]:
    """Every registered event type, sorted by type string."""
    return dict(sorted(_REGISTRY.items()))


@dataclass(frozen=True)
class StreamRef:
    """The aggregate an event belongs to: ("patient", <patient id>)."""

    type: str
    id: uuid.UUID


@dataclass(frozen=True)
class EventMeta:
    """The envelope of a stored event, handed to every subscriber beside the event."""

    event_id: uuid.UUID
    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    stream: StreamRef
    stream_version: int
    position: int
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    actor_id: uuid.UUID | None
    actor_username: str
    request_id: str | None
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    ip: str | None = None
    user_agent: str | None = None
    replaying: bool = False

    @property
    def scope(self) -> Scope:
        """The scope a policy acts in when it reacts to this event: the system, caused by it."""
        return Scope(
            tenant_id=self.tenant_id,
            facility_id=self.facility_id,
            principal=Principal.system(),
            context=RequestContext(
                request_id=self.request_id,
                causation_id=self.event_id,
                correlation_id=self.correlation_id or self.event_id,
            ),
        )


@dataclass(frozen=True)
class Recorded:
    """An event as the store recorded it."""

    event: DomainEvent
    meta: EventMeta
