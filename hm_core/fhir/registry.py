"""One mapper per FHIR resource type: how to read it, its versions, search it, and list a
patient's resources. The API, `$everything` and the capability statement only ask the registry.

A new type plugs in with one registration (`register(AppointmentMapper())` in its module under
`hm_core/fhir/mappers/`), e.g. Appointment, Coverage, Claim and Consent as their modules land.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.db.models import QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope

Criteria = dict[str, list[str]]


@dataclass(frozen=True)
class Version:
    """One version of one resource: its FHIR JSON (without `meta`), its version and time."""

    resource: dict[str, Any]
    version_id: int
    last_updated: datetime
    patient_id: uuid.UUID | None

    @property
    def resource_type(self) -> str:
        return str(self.resource["resourceType"])

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    def as_fhir(self) -> dict[str, Any]:
        meta = {"versionId": str(self.version_id), "lastUpdated": self.last_updated.isoformat()}
        return {
            "resourceType": self.resource["resourceType"],
            "id": self.resource["id"],
            "meta": {**self.resource.get("meta", {}), **meta},
            **{k: v for k, v in self.resource.items() if k not in ("resourceType", "id", "meta")},
        }


@dataclass(frozen=True)
class Source:
    """Rows of one read model that yield resources, in primary-key order (the paging key).

    `expand` turns a page of rows into their resources (one or several per row) in a fixed
    number of queries; `total` counts the resources the rows yield. `readable`: the rows are
    already limited to the patients the user may read (the patients selector's own rule), so
    `fhir.access` does not filter them a second time."""

    rows: QuerySet[Any]
    expand: Callable[[list[Any]], list[list[Version]]]
    total: Callable[[QuerySet[Any]], int] = field(default=lambda rows: rows.count())
    readable: bool = False


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # FHIR search parameter type: token, reference, date, string
    documentation: str = ""


class Mapper:
    """Base of every resource type's mapper; subclasses fill in what their type supports."""

    resource_type: ClassVar[str]
    permission: ClassVar[str]
    search_params: ClassVar[Sequence[SearchParam]] = ()
    profile: ClassVar[str | None] = None

    def read(self, scope: Scope, resource_id: str) -> Version:
        """The current version, or 404 (also another tenant's or facility's)."""
        return self.history(scope, resource_id)[0]

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        """Every version, newest first, or 404."""
        raise NotImplementedError

    def vread(self, scope: Scope, resource_id: str, version_id: int) -> Version:
        for version in self.history(scope, resource_id):
            if version.version_id == version_id:
                return version
        raise NotFound(details={"resource": self.resource_type, "version": version_id})

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        """The sources matching `criteria` (only names from `search_params`)."""
        raise NotImplementedError

    def for_patient(self, scope: Scope, patient_id: uuid.UUID) -> list[Source]:
        """The sources of everything of this type about one patient (`$everything`, export)."""
        return self.search(scope, {"patient": [str(patient_id)]})


_REGISTRY: dict[str, Mapper] = {}


def register(mapper: Mapper) -> Mapper:
    if mapper.resource_type in _REGISTRY:
        raise ValueError(f"FHIR type {mapper.resource_type} is already registered")
    _REGISTRY[mapper.resource_type] = mapper
    return mapper


def mapper_for(resource_type: str) -> Mapper:
    mapper = _REGISTRY.get(resource_type)
    if mapper is None:
        raise NotFound(
            f"This server does not serve the resource type {resource_type}.",
            details={"resource": resource_type},
        )
    return mapper


def is_registered(resource_type: str) -> bool:
    return resource_type in _REGISTRY


def registered() -> list[Mapper]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def parse_uuid(resource_id: str, resource_type: str) -> uuid.UUID:
    """A path id that is not one of our UUIDs is simply not found."""
    try:
        return uuid.UUID(resource_id)
    except ValueError:
        raise NotFound(details={"resource": resource_type}) from None
