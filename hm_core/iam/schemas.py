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
    """`refresh` may be left out when the refresh token travels in its cookie (`?cookie=1`)."""

    refresh: str | None = Field(None, min_length=1, max_length=4096)


class TokenCookieParams(Schema):
    cookie: bool = Field(
        False, description="Set the refresh token as an HttpOnly cookie instead of in the body."
    )


class TokenPairOut(Schema):
    """`refresh` is absent when it was set as the `hm_refresh` cookie instead."""

    access: str
    refresh: str | None = None


class MembershipOut(Schema):
    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    roles: list[str]


class MeOut(Schema):
    id: uuid.UUID
    username: str
    full_name: str
    memberships: list[MembershipOut]


class LogoutIn(InputSchema):
    """`refresh` may be left out when the refresh token travels in its cookie."""

    refresh: str | None = Field(None, min_length=1, max_length=4096)


class PasswordChangeIn(InputSchema):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordResetIn(InputSchema):
    username: str = Field(min_length=1, max_length=150)


class PasswordResetConfirmIn(InputSchema):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(min_length=1, max_length=256)
