"""IAM request and response schemas."""

from __future__ import annotations

import uuid

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import InputSchema


class TokenObtainIn(InputSchema):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=256)


class TokenRefreshIn(InputSchema):
    refresh: str = Field(min_length=1, max_length=4096)


class TokenPairOut(Schema):
    access: str
    refresh: str


class MembershipOut(Schema):
    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    roles: list[str]


class MeOut(Schema):
    id: uuid.UUID
    username: str
    full_name: str
    memberships: list[MembershipOut]
