"""FHIR read use-cases: read, vread, history and search over the registry's mappers.

Every one is an audited PHI read (`audit.services.audited_read_each`): one record per patient
whose data a response discloses, naming the FHIR type and ids, never the data.
"""

from __future__ import annotations

import uuid
from typing import Any

from hm_core.audit.services import audited_read_each
from hm_core.common.errors import BadRequest, NotFound
from hm_core.common.scope import Scope
from hm_core.fhir import outcome
from hm_core.fhir.access import check_readable, limited_to, searched_patients, visible_sources
from hm_core.fhir.paging import Cursor, encode_links, page_count, read_page, total_of
from hm_core.fhir.registry import Criteria, Mapper, Version, is_registered, mapper_for
from hm_core.fhir.stored import StoredMapper, WithStored
from hm_core.fhir.validation import model_class, validate_served

# Parameters every search understands, beside the type's own.
CONTROL = frozenset({"_count", "_cursor", "_format"})


def served(version: Version) -> dict[str, Any]:
    """The resource as served: with `meta`, checked against the R4 definitions."""
    return validate_served(version.as_fhir())


def resolve(resource_type: str) -> Mapper:
    """The mapper of a type: its registered one (with what imports kept as sent beside it),
    or, for any other valid R4 type, the store of resources kept as sent."""
    if is_registered(resource_type):
        return WithStored(mapper_for(resource_type))
    if resource_type[:1].isupper() and model_class(resource_type) is not None:
        return StoredMapper(resource_type)
    return mapper_for(resource_type)  # 404: not a type this server serves


def _reads(versions: list[Version], detail: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    by_patient: dict[uuid.UUID | None, list[str]] = {}
    for version in versions:
        by_patient.setdefault(version.patient_id, []).append(
            f"{version.resource_type}/{version.id}"
        )
    return [(patient, {**detail, "resources": ids}) for patient, ids in by_patient.items()]


def _checked(scope: Scope, mapper: Mapper, versions: list[Version]) -> list[Version]:
    """The versions, unless one is about a confidential patient hidden from the user: 404."""
    check_readable(scope, mapper, versions)
    return versions


def fhir_read(scope: Scope, resource_type: str, resource_id: str) -> dict[str, Any]:
    """The current version of one resource (404 for another tenant's or facility's)."""
    mapper = resolve(resource_type)
    version = audited_read_each(
        scope=scope,
        permission=mapper.permission,
        action="fhir.read",
        load=lambda: _checked(scope, mapper, [mapper.read(scope, resource_id)])[0],
        reads=lambda found: _reads([found], {"interaction": "read"}),
    )
    return served(version)


def fhir_vread(
    scope: Scope, resource_type: str, resource_id: str, version_id: str
) -> dict[str, Any]:
    """One version of one resource, current or earlier."""
    mapper = resolve(resource_type)
    if not version_id.isdigit():
        raise NotFound(details={"resource": resource_type, "version": version_id})
    version = audited_read_each(
        scope=scope,
        permission=mapper.permission,
        action="fhir.read",
        load=lambda: _checked(scope, mapper, [mapper.vread(scope, resource_id, int(version_id))])[
            0
        ],
        reads=lambda found: _reads([found], {"interaction": "vread"}),
    )
    return served(version)


def fhir_history(
    scope: Scope, resource_type: str, resource_id: str, *, base: str
) -> dict[str, Any]:
    """Every version of one resource, newest first, as a `history` Bundle."""
    mapper = resolve(resource_type)
    versions = audited_read_each(
        scope=scope,
        permission=mapper.permission,
        action="fhir.read",
        load=lambda: _checked(scope, mapper, mapper.history(scope, resource_id)),
        reads=lambda found: _reads(found[:1], {"interaction": "history"}),
    )
    return {
        "resourceType": "Bundle",
        "type": "history",
        "total": len(versions),
        "link": [{"relation": "self", "url": f"{base}/{resource_type}/{resource_id}/_history"}],
        "entry": [
            {
                "fullUrl": f"{base}/{v.resource_type}/{v.id}",
                "resource": served(v),
                "request": {"method": "PUT" if v.version_id > 1 else "POST", "url": resource_type},
                "response": {"status": "200", "etag": f'W/"{v.version_id}"'},
            }
            for v in versions
        ],
    }


def fhir_search(
    scope: Scope,
    *,
    resource_type: str,
    pairs: list[tuple[str, str]],
    base: str,
    strict: bool,
) -> dict[str, Any]:
    """A `searchset` Bundle of one page; unknown parameters are reported (400 when strict)."""
    mapper = resolve(resource_type)
    criteria, unknown = split_criteria(mapper, pairs)
    if unknown and strict:
        raise BadRequest(
            "Unknown search parameters: " + ", ".join(unknown),
            code="unknown_search_parameter",
            details=[{"field": name, "message": "not supported"} for name in unknown],
        )
    controls = dict(p for p in pairs if p[0] in CONTROL)
    count, cursor = page_count(controls.get("_count")), Cursor.decode(controls.get("_cursor"))

    def load() -> tuple[list[Version], Cursor | None, int]:
        patients = searched_patients(criteria)  # before `search`, which may consume criteria
        sources = visible_sources(scope, mapper, mapper.search(scope, criteria), patients)
        versions, nxt = read_page(sources, cursor, count)
        return versions, nxt, total_of(sources, cursor, versions, nxt)

    versions, nxt, total = audited_read_each(
        scope=scope,
        permission=mapper.permission,
        action="fhir.search",
        load=load,
        reads=lambda found: _reads(found[0], {"interaction": "search-type"}),
    )
    return searchset(
        versions,
        total=total,
        links=encode_links(f"{base}/{resource_type}", pairs, nxt),
        base=base,
        unknown=unknown,
    )


def split_criteria(mapper: Mapper, pairs: list[tuple[str, str]]) -> tuple[Criteria, list[str]]:
    known = {p.name for p in mapper.search_params}
    criteria: Criteria = {}
    unknown: list[str] = []
    for name, value in pairs:
        if name in CONTROL:
            continue
        if name in known:
            criteria.setdefault(name, []).append(value)
        elif name not in unknown:
            unknown.append(name)
    return criteria, unknown


def searchset(
    versions: list[Version],
    *,
    total: int,
    links: list[Any],
    base: str,
    unknown: list[str],
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base}/{v.resource_type}/{v.id}",
            "resource": served(v),
            "search": {"mode": "match"},
        }
        for v in versions
    ]
    if unknown:
        entries.append(
            {
                "resource": outcome.operation_outcome(
                    [
                        outcome.issue(
                            severity="warning",
                            code="not-supported",
                            diagnostics=f"Unknown search parameter {name!r} was ignored.",
                            expression=[name],
                        )
                        for name in unknown
                    ]
                ),
                "search": {"mode": "outcome"},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }


def fhir_everything(
    scope: Scope, patient_id: str, *, pairs: list[tuple[str, str]], base: str
) -> dict[str, Any]:
    """`Patient/<id>/$everything`: the patient and every resource about them that the caller
    may read, paged like a search; one audited read of the patient per page."""
    from hm_core.fhir.registry import registered
    from hm_core.fhir.stored import READ_PERMISSION, everything_source

    patient = resolve("Patient")
    controls = dict(p for p in pairs if p[0] in CONTROL)
    count, cursor = page_count(controls.get("_count")), Cursor.decode(controls.get("_cursor"))

    def load() -> tuple[list[Version], Cursor | None, int]:
        found = _checked(scope, patient, [patient.read(scope, patient_id)])[0]
        uid = uuid.UUID(found.id)
        sources = [
            source
            for mapper in registered()
            if scope.principal.may(mapper.permission)
            for source in limited_to(mapper, mapper.for_patient(scope, uid), {uid})
        ]
        if scope.principal.may(READ_PERMISSION):
            sources.append(everything_source(scope, uid))
        versions, nxt = read_page(sources, cursor, count)
        return versions, nxt, total_of(sources, cursor, versions, nxt)

    versions, nxt, total = audited_read_each(
        scope=scope,
        permission="patients.view",
        action="fhir.everything",
        load=load,
        reads=lambda found: _reads(found[0], {"interaction": "$everything"}),
    )
    url = f"{base}/Patient/{patient_id}/$everything"
    return searchset(
        versions, total=total, links=encode_links(url, pairs, nxt), base=base, unknown=[]
    )
