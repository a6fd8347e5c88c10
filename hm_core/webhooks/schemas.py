"""Webhook schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import InputSchema, PageParams


class WebhookRegisterIn(InputSchema):
    url: str = Field(min_length=8, max_length=500)
    event_types: list[str] = Field(default_factory=list, max_length=100)
    secret: str | None = Field(None, min_length=16, max_length=128)
    description: str = Field("", max_length=200)


class WebhookUpdateIn(InputSchema):
    url: str | None = Field(None, min_length=8, max_length=500)
    event_types: list[str] | None = Field(None, max_length=100)
    secret: str | None = Field(None, min_length=16, max_length=128)
    description: str | None = Field(None, max_length=200)
    is_active: bool | None = None

    def changes(self) -> dict[str, object]:
        return {
            k: v for k, v in self.model_dump(include=self.model_fields_set).items() if v is not None
        }


class WebhookOut(Schema):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    is_active: bool
    created_by: str
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    """Returned once, on registration: the only time the secret is shown."""

    secret: str

    @classmethod
    def of(cls, endpoint: object, *, secret: str) -> WebhookCreatedOut:
        return cls.model_validate(
            {**WebhookOut.model_validate(endpoint).model_dump(), "secret": secret}
        )


class WebhookPageOut(Schema):
    items: list[WebhookOut]
    count: int


class DeliveryFilters(PageParams):
    status: Literal["PENDING", "DELIVERED", "DEAD"] | None = None


class DeliveryOut(Schema):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    position: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPageOut(Schema):
    items: list[DeliveryOut]
    count: int
