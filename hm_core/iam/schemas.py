"""IAM request and response schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import Field, field_validator

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


# --- identity lifecycle (contract §17) ------------------------------------------------------


class UserCreateIn(InputSchema):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    password: str | None = Field(None, min_length=1, max_length=256)
    patient: uuid.UUID | None = Field(
        None, description="Link the account to this patient record and give it role `patient`."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            validate_email(value)
        except ValidationError:
            raise ValueError("not a valid email address") from None
        return value.lower()


class UserMembershipOut(Schema):
    id: uuid.UUID
    facility_id: uuid.UUID
    roles: list[str]
    is_active: bool

    @staticmethod
    def resolve_roles(obj: Any) -> list[str]:
        return sorted(role.code for role in obj.roles.all())


class UserOut(Schema):
    """An account as its tenant's admins see it (memberships in their tenant only)."""

    id: uuid.UUID
    username: str
    full_name: str
    email: str
    is_active: bool
    patient: uuid.UUID | None = Field(None, alias="patient_id")
    date_joined: datetime
    memberships: list[UserMembershipOut]

    @staticmethod
    def resolve_memberships(obj: Any) -> list[Any]:
        return list(obj.memberships.all())


class UserPageOut(Schema):
    items: list[UserOut]
    count: int


class MembershipCreateIn(InputSchema):
    user: uuid.UUID
    facility_id: uuid.UUID
    roles: list[str] = Field(min_length=1, max_length=20)


class MembershipGrantOut(Schema):
    id: uuid.UUID
    user: uuid.UUID = Field(alias="user_id")
    facility_id: uuid.UUID
    roles: list[str]
    is_active: bool

    @staticmethod
    def resolve_roles(obj: Any) -> list[str]:
        return sorted(role.code for role in obj.roles.all())


class RoleOut(Schema):
    code: str
    name: str
    permissions: list[str]


class RolePageOut(Schema):
    items: list[RoleOut]
    count: int


class RolePermissionsIn(InputSchema):
    permissions: list[str] = Field(max_length=500)


class FacilityOut(Schema):
    id: uuid.UUID
    code: str
    name: str
    time_zone: str
    is_active: bool


class FacilityUpdateIn(InputSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    time_zone: str | None = Field(None, min_length=1, max_length=64)


class FacilityPageOut(Schema):
    items: list[FacilityOut]
    count: int
