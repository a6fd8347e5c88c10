"""Ninja schemas of the interop API (contract §11)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, model_validator

from hm_core.common.schemas import InputSchema, PageParams

OutboundEvent = Literal["order.placed", "lab.result_released"]
MessageStatus = Literal[
    "ACCEPTED", "ERROR", "REJECTED", "DUPLICATE", "PENDING", "SENT", "DEAD", "WITHHELD"
]


class ChannelCreateIn(InputSchema):
    name: str = Field(min_length=1, max_length=100)
    protocol: Literal["hl7v2", "dicom"]
    facility_id: uuid.UUID
    sending_application: str = Field("", max_length=180)
    sending_facility: str = Field("", max_length=180)
    ae_title: str = Field("", max_length=16)
    outbound_host: str = Field("", max_length=255)
    outbound_port: int | None = Field(None, ge=1, le=65535)
    outbound_events: list[OutboundEvent] = Field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        return self.model_dump(exclude={"name", "protocol", "facility_id"})


class ChannelUpdateIn(InputSchema):
    """Partial update: only the fields sent change (the facility and protocol never do)."""

    name: str | None = Field(None, min_length=1, max_length=100)
    sending_application: str | None = Field(None, max_length=180)
    sending_facility: str | None = Field(None, max_length=180)
    ae_title: str | None = Field(None, max_length=16)
    outbound_host: str | None = Field(None, max_length=255)
    outbound_port: int | None = Field(None, ge=1, le=65535)
    outbound_events: list[OutboundEvent] | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ChannelUpdateIn:
        if not self.model_fields_set:
            raise ValueError("Send at least one field to change.")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ChannelOut(Schema):
    id: uuid.UUID
    name: str
    protocol: str
    facility_id: uuid.UUID
    sending_application: str
    sending_facility: str
    ae_title: str
    outbound_host: str
    outbound_port: int | None
    outbound_events: list[str]
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ChannelPageOut(Schema):
    items: list[ChannelOut]
    count: int


class MessageListFilters(PageParams):
    channel: uuid.UUID | None = None
    direction: Literal["inbound", "outbound"] | None = None
    status: MessageStatus | None = None
    control_id: str | None = Field(None, max_length=199)


class MessageOut(Schema):
    id: uuid.UUID
    channel: uuid.UUID | None = Field(validation_alias="channel_id")
    direction: str
    transport: str
    message_type: str
    control_id: str
    status: str
    error: str
    error_code: str
    attempts: int
    received_at: datetime
    processed_at: datetime | None


class MessageDetailOut(MessageOut):
    raw: str
    ack: str

    @staticmethod
    def resolve_raw(obj: Any) -> str:
        from hm_core.interop.hl7.message import decode

        return decode(bytes(obj.raw))


class MessagePageOut(Schema):
    items: list[MessageOut]
    count: int
