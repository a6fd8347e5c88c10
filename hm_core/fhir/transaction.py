"""`POST /api/fhir` with a transaction (all or nothing) or batch (each entry alone) Bundle.

Entries are processed Patients first, then Encounters, then everything else, so that every
`urn:uuid:` (or `Type/id`) reference between entries can be rewritten to the hm_core id of its
target before a resource is kept. Matching makes an import idempotent: `ifNoneExist` first,
else the identifier (MRN, visit number, any identifier of a stored resource), else the
sender's id. A resource whose content did not change writes nothing.

A transaction is one unit of work: the events, projection, timeline and audit rows of all its
entries are flushed together in a few grouped statements, and the lookups the entries need are
read once for the Bundle before the first write (`reads.BundleReads`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.db import transaction

from hm_core.common.collector import collector_paused
from hm_core.common.errors import BadRequest, HmError, PreconditionFailed, ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.events.unit_of_work import command_block
from hm_core.fhir import importing, outcome
from hm_core.fhir.labimport import LabGroup, plan_lab_groups
from hm_core.fhir.reads import BundleReads
from hm_core.fhir.registry import Version
from hm_core.fhir.stored import fhir_resource_store, identifier_keys
from hm_core.fhir.validation import InvalidResource, validate
from hm_core.fhir.vitalsimport import VitalsGroup, plan_vitals_groups

PERMISSION = "fhir.import"
_ORDER = {"Patient": 0, "Encounter": 1}
_NAMESPACE = uuid.UUID("1c2f0f64-4d3e-4f45-9c59-5b8f1a0c6a11")
_NESTED = (dict, list)


@dataclass
class Entry:
    index: int
    full_url: str
    method: str
    url: str
    resource: dict[str, Any]
    if_none_exist: str = ""
    status: str = ""
    location: str = ""
    problem: dict[str, Any] | None = None
    target: str = ""  # `Type/<hm_core id>` once known

    @property
    def resource_type(self) -> str:
        return str(self.resource.get("resourceType"))

    @property
    def source_id(self) -> str:
        return str(self.resource.get("id") or self.full_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1])


@dataclass
class Run:
    scope: Scope
    reads: BundleReads
    targets: dict[str, str] = field(default_factory=dict)  # fullUrl or Type/id → Type/<our id>
    # entry index → the hm_core lab result or vitals set it becomes (not kept as sent)
    mapped: dict[int, LabGroup | VitalsGroup] = field(default_factory=dict)


def bundle_process(scope: Scope, bundle: Any) -> dict[str, Any]:
    """Process a transaction or batch Bundle; answer its `-response` Bundle (with the garbage
    collector paused: a Bundle's objects live until it ends, `common.collector`; the scope
    active once for all its reads and writes)."""
    scope.require(PERMISSION)
    with collector_paused(), scope_active(scope):
        return _process(scope, bundle)


def _process(scope: Scope, bundle: Any) -> dict[str, Any]:
    kind, entries = _entries(bundle)
    invalid = [e for e in entries if _check(e)]
    if kind == "transaction":
        if invalid:
            raise ValidationFailed(
                "The transaction was not applied: " + "; ".join(_named(e) for e in invalid),
                details=[{"field": f"entry[{e.index}]", "message": _named(e)} for e in invalid],
            )
        with command_block():
            _apply_all(Run(scope, BundleReads(scope)), entries, strict=True)
    else:
        valid = [e for e in entries if e.problem is None]
        _apply_all(Run(scope, BundleReads(scope)), valid, strict=False)
    return {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "entry": [_response(e) for e in entries],
    }


def _entries(bundle: Any) -> tuple[str, list[Entry]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("The body must be a FHIR Bundle.", code="invalid_bundle")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise BadRequest("Bundle.type must be transaction or batch.", code="invalid_bundle")
    raw = bundle.get("entry") or []
    if not isinstance(raw, list):
        raise BadRequest("Bundle.entry must be a list.", code="invalid_bundle")
    entries = []
    for index, item in enumerate(raw):
        item = item if isinstance(item, dict) else {}
        request: dict[str, Any] = _object(item.get("request"))
        resource: dict[str, Any] = _object(item.get("resource"))
        entries.append(
            Entry(
                index=index,
                full_url=str(item.get("fullUrl") or ""),
                method=str(request.get("method") or ""),
                url=str(request.get("url") or ""),
                resource=resource,
                if_none_exist=str(request.get("ifNoneExist") or ""),
            )
        )
    return str(kind), entries


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _check(entry: Entry) -> bool:
    """Record why an entry cannot be processed (and answer whether it cannot)."""
    if entry.method not in ("POST", "PUT"):
        entry.problem = _problem(
            405, "not-supported", f"request.method {entry.method!r} is not supported"
        )
    elif not entry.resource:
        entry.problem = _problem(400, "required", "the entry has no resource")
    else:
        try:
            validate(entry.resource)
        except InvalidResource as exc:
            entry.problem = _problem(422, "invalid", str(exc))
    return entry.problem is not None


def _problem(status: int, code: str, message: str) -> dict[str, Any]:
    return {"status": status, "code": code, "message": message}


def _named(entry: Entry) -> str:
    problem = entry.problem or {"message": "invalid"}
    where = entry.full_url or f"{entry.resource_type}/{entry.source_id}"
    return f"entry {entry.index} ({where}): {problem['message']}"


def _apply_all(run: Run, entries: list[Entry], *, strict: bool) -> None:
    _plan(run, entries)
    for entry in sorted(entries, key=lambda e: (_ORDER.get(e.resource_type, 2), e.index)):
        if strict:
            _apply(run, entry)
            continue
        try:
            with transaction.atomic():
                _apply(run, entry)
        except HmError as exc:
            entry.problem = _problem(exc.status, "processing", f"{exc.code}: {exc.message}")


def _plan(run: Run, entries: list[Entry]) -> None:
    """Map what becomes hm_core's own, give stored resources their ids up front (they may
    refer to each other), and read what the entries will look up."""
    run.mapped = {**plan_vitals_groups(run.scope, entries)}
    run.mapped |= plan_lab_groups(run.reads, [e for e in entries if e.index not in run.mapped])
    stored = [e for e in entries if e.index not in run.mapped and e.resource_type not in _ORDER]
    run.reads.load_identifiers((e.resource_type, k) for e in stored for k in _identifiers(e))
    for entry in entries:
        if entry.index in run.mapped:
            target = run.mapped[entry.index].planned_target(entry.index)
            run.targets |= dict.fromkeys(_key(entry), target) if target else {}
        elif entry.resource_type not in _ORDER:
            _plan_stored(run, entry)
    run.reads.load_stored(uuid.UUID(run.targets[_key(e)[0]].rsplit("/", 1)[1]) for e in stored)
    run.reads.load_encounters(
        importing.encounter_visit_number(e.resource, source_id=e.source_id)
        for e in entries
        if e.resource_type == "Encounter"
    )
    groups = {id(g): g for g in run.mapped.values()}.values()
    run.reads.load_recorded(
        vitals=[g.vitals_id for g in groups if isinstance(g, VitalsGroup)],
        results=[g.ids["result"] for g in groups if isinstance(g, LabGroup)],
    )


def _identifiers(entry: Entry) -> list[str]:
    return identifier_keys(entry.resource)


def _key(entry: Entry) -> list[str]:
    keys = [f"{entry.resource_type}/{entry.source_id}"]
    return [entry.full_url, *keys] if entry.full_url else keys


def _plan_stored(run: Run, entry: Entry) -> None:
    found = _conditional(run, entry) or _by_identifier(run, entry)
    our_id = found or uuid.uuid5(
        _NAMESPACE,
        f"{run.scope.tenant_id}/{run.scope.facility_id}/{entry.resource_type}/{entry.source_id}",
    )
    for key in _key(entry):
        run.targets[key] = f"{entry.resource_type}/{our_id}"


def _by_identifier(run: Run, entry: Entry) -> uuid.UUID | None:
    """The one stored resource its identifiers name. An identifier several stored resources
    share (Synthea gives every claim the same `claim-group`) identifies none of them."""
    found = set()
    for key in _identifiers(entry):
        matches = run.reads.identifiers.get((entry.resource_type, key), set())
        if len(matches) == 1:
            found |= matches
    return found.pop() if len(found) == 1 else None


def _conditional(run: Run, entry: Entry) -> uuid.UUID | None:
    """`ifNoneExist`: the one resource the query matches (412 when several do), else None."""
    if not entry.if_none_exist:
        return None
    from hm_core.fhir.services import resolve, split_criteria

    mapper = resolve(entry.resource_type)
    criteria, unknown = split_criteria(mapper, parse_qsl(entry.if_none_exist.lstrip("?")))
    if unknown:
        raise BadRequest(f"entry {entry.index}: ifNoneExist uses unknown parameters {unknown}")
    matches: list[Version] = []
    for source in mapper.search(run.scope, criteria):
        rows = list(source.rows.order_by("pk")[:2])
        matches += [v for page in source.expand(rows) for v in page]
    if len(matches) > 1:
        raise PreconditionFailed(f"entry {entry.index}: ifNoneExist matches several resources")
    return uuid.UUID(matches[0].id[:36]) if matches else None


def _apply(run: Run, entry: Entry) -> None:
    if entry.index in run.mapped:
        location, created = run.mapped[entry.index].apply(
            run.reads, rewrite=lambda r: _rewrite(r, run.targets), index=entry.index
        )
        for key in _key(entry):
            run.targets[key] = location
        entry.status, entry.location = ("201 Created" if created else "200 OK"), location
        return
    resource = _rewrite(entry.resource, run.targets)
    if entry.resource_type in _ORDER:
        found = _conditional(run, entry)
        our_id, created = (found, False) if found else _import(run, entry, resource)
        version = None
    else:
        our_id = uuid.UUID(run.targets[_key(entry)[0]].rsplit("/", 1)[1])
        version, written = fhir_resource_store(
            scope=run.scope,
            resource_type=entry.resource_type,
            resource_id=our_id,
            resource=resource,
            patient_id=_patient_of(resource),
            source_key=f"{entry.resource_type}/{entry.source_id}",
            known=run.reads.stored,
        )
        created = written and version == 1
    for key in _key(entry):
        run.targets[key] = f"{entry.resource_type}/{our_id}"
    entry.status = "201 Created" if created else "200 OK"
    entry.location = f"{entry.resource_type}/{our_id}" + (f"/_history/{version}" if version else "")


def _import(run: Run, entry: Entry, resource: dict[str, Any]) -> tuple[uuid.UUID, bool]:
    """A Patient registered, an Encounter recorded, through hm_core's own services."""
    if entry.resource_type == "Patient":
        return importing.patient_import(run.scope, resource, source_id=entry.source_id)
    patient = _patient_of(resource)
    if patient is None:
        raise ValidationFailed(
            f"entry {entry.index}: an Encounter's subject must be a Patient of this server",
            details=[{"field": f"entry[{entry.index}].subject", "message": "unknown patient"}],
        )
    return importing.encounter_import(
        run.reads, resource, patient_id=patient, source_id=entry.source_id
    )


def _patient_of(resource: dict[str, Any]) -> uuid.UUID | None:
    """The hm_core patient a resource is about (`subject`, `patient` or `beneficiary`)."""
    for name in ("subject", "patient", "beneficiary"):
        element = resource.get(name)
        reference = element.get("reference") if isinstance(element, dict) else None
        if isinstance(reference, str) and reference.startswith("Patient/"):
            try:
                return uuid.UUID(reference.removeprefix("Patient/"))
            except ValueError:
                return None
    return None


def _rewrite(value: Any, targets: dict[str, str]) -> Any:
    """Every `reference` that names another entry, rewritten to that entry's hm_core id."""
    if isinstance(value, dict):
        out = {k: _rewrite(v, targets) if isinstance(v, _NESTED) else v for k, v in value.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference in targets:
            out["reference"] = targets[reference]
        return out
    if isinstance(value, list):
        return [_rewrite(v, targets) if isinstance(v, _NESTED) else v for v in value]
    return value


def _response(entry: Entry) -> dict[str, Any]:
    if entry.problem is not None:
        issue = outcome.issue(
            severity="error", code=entry.problem["code"], diagnostics=_named(entry)
        )
        return {
            "response": {
                "status": str(entry.problem["status"]),
                "outcome": outcome.operation_outcome([issue]),
            }
        }
    return {"response": {"status": entry.status, "location": entry.location}}
