"""Resources kept as sent: their selectors, the store service, and their mapper.

A type hm_core has a model for (Observation, ...) is served from that model, and the
resources of that type an import kept as sent are served beside them: reads fall back to the
store, searches by `patient`/`subject`/`_lastUpdated`/`identifier` (and `code`, for a type
with a `code` element) alone include them.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope, scope_active
from hm_core.events.base import EventMeta, StreamRef
from hm_core.events.bus import publish
from hm_core.fhir import params
from hm_core.fhir.events import ResourceStored
from hm_core.fhir.mappers.common import fold_stream
from hm_core.fhir.models import StoredCode, StoredIdentifier, StoredResource
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
)
from hm_core.fhir.validation import model_class

STREAM = "fhir_resource"
STORED_PARAMS = (
    SearchParam("patient", "reference", "The patient the resource is about"),
    SearchParam("subject", "reference", "The patient the resource is about"),
    SearchParam("_lastUpdated", "date", "When the resource was last stored"),
    SearchParam("identifier", "token", "Any identifier, system|value"),
)
STORED_NAMES = frozenset(p.name for p in STORED_PARAMS)
CODE_PARAM = SearchParam("code", "token", "Any code.coding, system|code (or a code alone)")
READ_PERMISSION = "encounters.view"
_SERVER_META = frozenset({"versionId", "lastUpdated", "source"})


def stored_list(*, scope: Scope, resource_type: str) -> QuerySet[StoredResource]:
    return StoredResource.objects.for_scope(scope).filter(resource_type=resource_type)


def stored_get(*, scope: Scope, resource_type: str, resource_id: uuid.UUID) -> StoredResource:
    found = stored_list(scope=scope, resource_type=resource_type).filter(id=resource_id).first()
    if found is None:
        raise NotFound(details={"resource": resource_type})
    return found


def identifier_keys(resource: dict[str, Any]) -> list[str]:
    found = resource.get("identifier") or []
    if isinstance(found, dict):
        found = [found]
    return sorted(
        {
            f"{i.get('system', '')}|{i['value']}"
            for i in found
            if isinstance(i, dict) and i.get("value")
        }
    )


def fhir_resource_store(
    *,
    scope: Scope,
    resource_type: str,
    resource_id: uuid.UUID,
    resource: dict[str, Any],
    patient_id: uuid.UUID | None,
    source_key: str,
    known: dict[uuid.UUID, StoredResource] | None = None,
) -> tuple[int, bool]:
    """Keep `resource` as sent under `resource_id`: a new version only when its content
    changed (importing the same resource again writes nothing). Returns (version, written).

    `known`: the current rows the caller read for a whole Bundle (a missing id: no such
    resource yet), kept up to date here; the caller then holds the scope and the transaction
    (a savepoint per resource would only be swallowed by its unit of work). Without it the
    row is read, in a transaction of its own."""
    # The sender's tags and profiles stay; version and time are this server's.
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in _SERVER_META}
    body = {k: v for k, v in resource.items() if k != "meta"} | {"id": str(resource_id)}
    body = body | ({"meta": meta} if meta else {})
    stored = StoredResource(id=resource_id, resource_type=resource_type, resource=body)
    if known is not None:
        current = known.get(resource_id)
        if current is not None and current.resource_type != resource_type:
            current = None  # another type's resource: not this one (as the query finds)
        row, written = _store_version(scope, stored, current, patient_id, source_key)
        known[resource_id] = row
        return row.version, written
    with scope_active(scope), transaction.atomic():
        rows = stored_list(scope=scope, resource_type=resource_type)
        current = rows.filter(id=resource_id).first()
        row, written = _store_version(scope, stored, current, patient_id, source_key)
        return row.version, written


def _store_version(
    scope: Scope,
    stored: StoredResource,
    current: StoredResource | None,
    patient_id: uuid.UUID | None,
    source_key: str,
) -> tuple[StoredResource, bool]:
    """Publish `stored` as the version after `current` unless its content is the same.
    Returns the current row after it (`stored`, its version set, or `current`) and whether
    it was written."""
    if current is not None and current.resource == stored.resource:
        return current, False
    stored.version = (current.version if current is not None else 0) + 1
    event = ResourceStored(
        resource_id=stored.id,
        resource_type=stored.resource_type,
        patient_id=patient_id,
        source_key=source_key,
        identifiers=identifier_keys(stored.resource),
        resource=stored.resource,
    )
    publish(
        scope=scope,
        stream=StreamRef(STREAM, stored.id),
        expected_version=stored.version - 1,
        events=[event],
    )
    return stored, True


@cache
def has_code(resource_type: str) -> bool:
    """Whether the type has a `code` element (Observation, Condition, Procedure, ...)."""
    cls = model_class(resource_type)
    return cls is not None and "code" in cls.model_fields


def stored_params(resource_type: str) -> tuple[SearchParam, ...]:
    """The parameters a type's resources kept as sent are searchable by."""
    return (*STORED_PARAMS, CODE_PARAM) if has_code(resource_type) else STORED_PARAMS


def resource_codes(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, code) of each coding of `code` (a CodeableConcept, or a list of Codings or
    CodeableConcepts), sorted and without duplicates; codings without a code are left out."""
    found = resource.get("code")
    concepts = found if isinstance(found, list) else [found]
    codings = [
        coding
        for concept in concepts
        if isinstance(concept, dict)
        for coding in (concept.get("coding") if "coding" in concept else [concept]) or []
        if isinstance(coding, dict)
    ]
    return sorted(
        {
            (str(c.get("system") or ""), str(c["code"]))
            for c in codings
            if c.get("code")
            and len(str(c["code"])) <= 200
            and len(str(c.get("system") or "")) <= 500
        }
    )


def _code_q(value: str) -> Q:
    """A token search value (OR over commas): `system|code`, `code` in any system, `|code` in
    none, `system|` any code of the system."""
    found = params.NOTHING
    for part in params.or_values(value):
        system, code = params.token(part)
        terms = {"system": system} if system is not None else {}
        terms |= {"code": code} if code else {}
        found |= Q(**terms) if terms else params.NOTHING
    return found


def _identifier_keys(value: str) -> list[str]:
    """`system|value` as stored; a bare value matches it under no system only."""
    return [part if "|" in part else f"|{part}" for part in params.or_values(value)]


def _version(row: StoredResource) -> Version:
    return Version(row.resource, row.version, row.updated_at, row.patient_id)


def _apply(state: dict[str, Any], event: Any, meta: EventMeta) -> None:
    state.update(resource=event.resource, patient_id=event.patient_id)


def stored_history(scope: Scope, resource_type: str, resource_id: str) -> list[Version]:
    row = stored_get(
        scope=scope, resource_type=resource_type, resource_id=parse_uuid(resource_id, resource_type)
    )
    return fold_stream(
        scope, row.id, apply=_apply, render=lambda s: (s["resource"], s["patient_id"])
    )


def stored_source(scope: Scope, resource_type: str, criteria: Criteria) -> Source:
    rows = stored_list(scope=scope, resource_type=resource_type)
    for name, values in criteria.items():
        for value in values:
            if name in ("patient", "subject"):
                rows = rows.filter(params.reference_q("patient_id", value, "Patient"))
            elif name == "_lastUpdated":
                rows = rows.filter(params.date_q("updated_at", value))
            elif name == "identifier":
                keys = StoredIdentifier.objects.for_scope(scope).filter(
                    resource_type=resource_type, key__in=_identifier_keys(value)
                )
                rows = rows.filter(id__in=keys.values("resource_id"))
            elif name == "code":
                # the codes of the current version only (older versions' rows stay behind)
                codes = StoredCode.objects.for_scope(scope).filter(
                    _code_q(value),
                    resource_type=resource_type,
                    resource_id=OuterRef("id"),
                    version=OuterRef("version"),
                )
                rows = rows.filter(Exists(codes))
    return Source(rows=rows, expand=lambda batch: [[_version(r)] for r in batch])


def everything_source(scope: Scope, patient_id: uuid.UUID) -> Source:
    """Every resource kept as sent about one patient, whatever its type."""
    rows = StoredResource.objects.for_scope(scope).filter(patient_id=patient_id)
    return Source(rows=rows, expand=lambda batch: [[_version(r)] for r in batch])


class StoredMapper(Mapper):
    """Any valid R4 type hm_core has no model for, served as it was sent."""

    permission = READ_PERMISSION
    search_params = STORED_PARAMS

    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type  # type: ignore[misc]
        self.search_params = stored_params(resource_type)  # type: ignore[misc,assignment]

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        return stored_history(scope, self.resource_type, resource_id)

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        return [stored_source(scope, self.resource_type, criteria)]


class WithStored(Mapper):
    """A registered mapper, plus the resources of its type that an import kept as sent."""

    def __init__(self, inner: Mapper) -> None:
        self.inner = inner
        self.resource_type = inner.resource_type  # type: ignore[misc]
        self.permission = inner.permission  # type: ignore[misc]
        self.inner_names = frozenset(p.name for p in inner.search_params)
        stored = stored_params(inner.resource_type)
        self.stored_names = frozenset(p.name for p in stored)
        self.search_params = (  # type: ignore[misc]
            *inner.search_params,
            *[p for p in stored if p.name not in self.inner_names],
        )

    def read(self, scope: Scope, resource_id: str) -> Version:
        try:
            return self.inner.read(scope, resource_id)
        except NotFound:
            return stored_history(scope, self.resource_type, resource_id)[0]

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        try:
            return self.inner.history(scope, resource_id)
        except NotFound:
            return stored_history(scope, self.resource_type, resource_id)

    def for_patient(self, scope: Scope, patient_id: uuid.UUID) -> list[Source]:
        criteria: Criteria = {"patient": [str(patient_id)]}
        return [
            *self.inner.for_patient(scope, patient_id),
            stored_source(scope, self.resource_type, criteria),
        ]

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        """hm_core's own resources when it serves every parameter (it may consume its copy),
        and those kept as sent when the store does: `code` reaches both for Observation."""
        sources = []
        if set(criteria) <= self.inner_names:
            sources = self.inner.search(scope, {k: list(v) for k, v in criteria.items()})
        if set(criteria) <= self.stored_names:
            sources.append(stored_source(scope, self.resource_type, criteria))
        return sources
