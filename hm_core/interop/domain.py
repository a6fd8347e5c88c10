"""Channel decisions: what a channel's settings may be. Pure Python, no Django."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hm_core.common.errors import ValidationFailed
from hm_core.interop.events import ChannelCreated, ChannelUpdated

HL7V2, DICOM = "hl7v2", "dicom"
# The events an outbound HL7 channel can ask for (contract §11: ORM^O01 and ORU^R01).
OUTBOUND_EVENTS = ("order.placed", "lab.result_released")
SETTINGS = (
    "facility_id",
    "sending_application",
    "sending_facility",
    "ae_title",
    "outbound_host",
    "outbound_port",
    "outbound_events",
    "is_active",
    "name",
)


@dataclass(frozen=True)
class ChannelState:
    channel_id: uuid.UUID
    protocol: str
    settings: dict[str, Any]


def create(
    *, channel_id: uuid.UUID, name: str, protocol: str, settings: dict[str, Any]
) -> list[ChannelCreated]:
    """A new channel; an HL7 channel needs MSH-3, a DICOM channel its calling AE title."""
    _check(protocol, settings)
    stored = {k: v for k, v in settings.items() if k not in ("facility_id", "name")}
    return [ChannelCreated(channel_id=channel_id, name=name, protocol=protocol, settings=stored)]


def update(state: ChannelState, *, changes: dict[str, Any]) -> list[ChannelUpdated]:
    """Only the settings that really change; none changed, no event."""
    changed = {k: v for k, v in changes.items() if state.settings.get(k) != v}
    if not changed:
        return []
    _check(state.protocol, {**state.settings, **changed})
    if "facility_id" in changed:
        raise ValidationFailed.field("facility_id", "A channel's facility cannot change.")
    return [ChannelUpdated(channel_id=state.channel_id, changes=changed)]


def _check(protocol: str, settings: dict[str, Any]) -> None:
    if protocol == HL7V2 and not settings.get("sending_application"):
        raise ValidationFailed.field(
            "sending_application", "An HL7 channel needs the sender's MSH-3."
        )
    if protocol == DICOM and not settings.get("ae_title"):
        raise ValidationFailed.field("ae_title", "A DICOM channel needs the calling AE title.")
    host, port = settings.get("outbound_host"), settings.get("outbound_port")
    if bool(host) != bool(port):
        raise ValidationFailed.field(
            "outbound_port", "outbound_host and outbound_port go together."
        )
    unknown = sorted(set(settings.get("outbound_events") or []) - set(OUTBOUND_EVENTS))
    if unknown:
        raise ValidationFailed.field(
            "outbound_events", f"Unknown outbound events {unknown}; use {list(OUTBOUND_EVENTS)}."
        )
