"""Patient request and response schemas (contract §3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from hm_core.common.schemas import InputSchema, PageParams
from hm_core.common.time import utcnow

Gender = Literal["M", "F", "O", "U"]
PHONE = r"^\+?[0-9 ()\-.]{3,32}$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$"
MRN = r"^[A-Za-z0-9][A-Za-z0-9\-_./]{0,63}$"
NAME_REQUIRED = "required unless given_name and family_name are sent"


class AddressIn(InputSchema):
    """A postal address; `country` is ISO 3166-1 alpha-2 (for US: state and ZIP are checked)."""

    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str | None = Field(None, max_length=50)
    postal_code: str | None = Field(None, max_length=20)
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")


class EmergencyContactIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=50)
    phone: str = Field(max_length=32, pattern=PHONE)


class PatientRegisterIn(InputSchema):
    """A name is `full_name`, or `given_name` + `family_name` (then `full_name` is derived)."""

    # The name parts come first: the `full_name` check reads them (validated in field order).
    given_name: str | None = Field(None, min_length=1, max_length=100)
    middle_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, min_length=1, max_length=100, validate_default=True)
    full_name: str | None = Field(None, min_length=1, max_length=200, validate_default=True)
    mrn: str = Field(min_length=1, max_length=64, pattern=MRN)
    date_of_birth: date
    gender: Gender
    phone: str | None = Field(None, max_length=32, pattern=PHONE)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    address: AddressIn | None = None
    emergency_contact: EmergencyContactIn | None = None
    national_id: str | None = Field(None, max_length=64)
    confidential: bool = False

    @field_validator("family_name", mode="after")
    @classmethod
    def family_with_given(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and (info.data.get("given_name") or info.data.get("middle_name")):
            raise ValueError("required when given_name or middle_name is sent")
        return value

    @field_validator("full_name", mode="after")
    @classmethod
    def name_sent(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and not (info.data.get("given_name") and info.data.get("family_name")):
            raise ValueError(NAME_REQUIRED)
        return value

    def demographics(self) -> dict[str, object]:
        data = self.model_dump()
        return {k: ("" if v is None else v) for k, v in data.items()}


class PatientUpdateIn(InputSchema):
    """Every field optional; only the fields sent are changed. Optional fields accept null."""

    full_name: str | None = Field(None, min_length=1, max_length=200)
    given_name: str | None = Field(None, min_length=1, max_length=100)
    middle_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, min_length=1, max_length=100)
    mrn: str | None = Field(None, min_length=1, max_length=64, pattern=MRN)
    date_of_birth: date | None = None
    gender: Gender | None = None
    phone: str | None = Field(None, max_length=32, pattern=PHONE)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    address: AddressIn | None = None
    emergency_contact: EmergencyContactIn | None = None
    national_id: str | None = Field(None, max_length=64)
    confidential: bool | None = None

    @field_validator(
        "full_name",
        "given_name",
        "family_name",
        "mrn",
        "date_of_birth",
        "gender",
        "confidential",
        mode="after",
    )
    @classmethod
    def required_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, object]:
        """The fields sent; null clears (an empty string, or no address/contact at all)."""
        sent = self.model_dump(include=self.model_fields_set)
        objects = {"address", "emergency_contact"}
        return {k: ("" if v is None and k not in objects else v) for k, v in sent.items()}


class PatientListFilters(PageParams):
    search: str | None = Field(None, max_length=100)
    gender: Gender | None = None
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    national_id: str | None = Field(None, max_length=64)
    ordering: Literal[
        "full_name",
        "-full_name",
        "family_name",
        "-family_name",
        "given_name",
        "-given_name",
        "created_at",
        "-created_at",
        "mrn",
        "-mrn",
        "date_of_birth",
        "-date_of_birth",
    ] = "-created_at"


class AddressOut(Schema):
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str


class EmergencyContactOut(Schema):
    name: str
    relationship: str
    phone: str


class PatientOut(Schema):
    id: uuid.UUID
    mrn: str
    full_name: str
    given_name: str
    middle_name: str
    family_name: str
    date_of_birth: date
    gender: str
    phone: str
    email: str
    address: AddressOut | None
    emergency_contact: EmergencyContactOut | None
    national_id: str
    confidential: bool
    facility_id: uuid.UUID
    version: int
    is_deleted: bool
    created_at: datetime
    updated_at: datetime


class PatientPageOut(Schema):
    items: list[PatientOut]
    count: int


class ConsentRecordIn(InputSchema):
    """Contract §18: a consent; `valid_from` defaults to now, `valid_to` to open-ended."""

    category: Literal["treatment", "data_sharing", "research"]
    decision: Literal["permit", "deny"]
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    note: str = Field("", max_length=2000)


class ConsentOut(Schema):
    id: uuid.UUID
    patient: uuid.UUID = Field(alias="patient_id")
    category: str
    decision: str
    valid_from: datetime
    valid_to: datetime | None
    note: str
    active: bool
    version: int
    recorded_at: datetime
    recorded_by: str

    @staticmethod
    def resolve_active(obj: Any) -> bool:
        return bool(obj.is_active(utcnow()))


class ConsentPageOut(Schema):
    items: list[ConsentOut]
    count: int


class BreakGlassIn(InputSchema):
    reason: str = Field(min_length=1, max_length=1000)


class BreakGlassOut(Schema):
    id: uuid.UUID
    patient: uuid.UUID = Field(alias="patient_id")
    user: uuid.UUID = Field(alias="user_id")
    reason: str
    granted_at: datetime
    expires_at: datetime
