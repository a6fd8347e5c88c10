"""Imported laboratory DiagnosticReports and Observations → hm_core lab results.

A report maps when its LOINC code names a LAB service of the tenant's catalog and the
Observations it references (entries of the same Bundle) report every analyte of that service,
each matched on the analyte's LOINC, as a number in the analyte's unit (or a UCUM unit equal to
it: `10*3/uL` is `10*9/L`; values are never converted). A laboratory Observation that no report
of the Bundle references maps alone when its code names a one-analyte service. The result is
recorded as history of the report's encounter, at the report's own times, and replayed through
projections only — no task, no alert, no charge — as imported encounters are: a LAB order of the
service, its sample created and received, the result entered, verified by the sending system and
released (the lab domain's `accept_final`, flags and critical values from the catalog). What does
not map — a report of another service, a unit hm_core's catalog does not use, an analyte the
catalog does not name (MCV, RDW, ...) — is kept as sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

from hm_core.catalog.selectors import ServiceSpec, service_by_loinc
from hm_core.common.errors import NotFound, ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters.selectors import encounter_get
from hm_core.events import bus, store
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.fhir.mappers.common import LOINC
from hm_core.fhir.mappers.labs import analyte_key
from hm_core.lab import analytes, domain
from hm_core.lab.events import SampleCreated, SampleReceived
from hm_core.lab.selectors import lab_result_get, lab_result_versions
from hm_core.orders.events import ITEM_COLLECTED, OrderedItem, OrderPlaced

if TYPE_CHECKING:
    from hm_core.fhir.transaction import Entry

LABORATORY = "laboratory"
SENDER = "FHIR import"
# UCUM units that are the same quantity under another name: relabelled, never converted.
SAME_UNIT = {"10*3/uL": "10*9/L", "10*6/uL": "10*12/L", "10*3/mm3": "10*9/L"}
_NAMESPACE = uuid.UUID("5f0e8f55-7d64-4c1b-a7c5-3f6c1b0a9e21")


@dataclass
class LabGroup:
    """One imported lab result: its report entry (if any) and the Observations it maps."""

    source_key: str  # `DiagnosticReport/<id>` or `Observation/<id>` of the sender
    service: ServiceSpec
    values: list[dict[str, str]]  # {code, value, unit} in the catalog's analyte order
    members: dict[int, str]  # entry index → the analyte code it reports
    report: Entry | None
    first: Entry  # the entry whose subject, encounter and times are the result's
    created: bool | None = None  # None until applied
    location: str = ""
    ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def planned_target(self, index: int) -> str | None:
        """Where a member Observation will be served (a report's id is known once recorded)."""
        return lab_observation_target(self, index) if index in self.members else None

    def apply(self, scope: Scope, *, rewrite: Any, index: int) -> tuple[str, bool]:
        return lab_group_apply(scope, self, rewrite=rewrite, index=index)


def plan_lab_groups(scope: Scope, entries: list[Entry]) -> dict[int, LabGroup]:
    """The Bundle's lab reports (and lone lab Observations) that map to hm_core lab results,
    by the index of each entry they take."""
    by_key = {k: e for e in entries if e.resource_type == "Observation" for k in _keys(e)}
    referenced: set[int] = set()
    groups: dict[int, LabGroup] = {}
    for entry in entries:
        if entry.resource_type != "DiagnosticReport" or entry.problem is not None:
            continue
        members = [by_key.get(str(r.get("reference"))) for r in entry.resource.get("result") or []]
        found = [m for m in members if m is not None]
        referenced |= {m.index for m in found}
        group = _group(scope, entry, found, report=entry)
        if group is not None and len(found) == len(members):
            groups |= dict.fromkeys([entry.index, *group.members], group)
    for entry in by_key.values():
        if entry.index not in referenced and entry.index not in groups and _is_lab(entry):
            group = _group(scope, entry, [entry], report=None)
            if group is not None:
                groups[entry.index] = group
    return groups


def _keys(entry: Entry) -> list[str]:
    keys = [f"Observation/{entry.source_id}"]
    return [entry.full_url, *keys] if entry.full_url else keys


def _is_lab(entry: Entry) -> bool:
    return entry.problem is None and LABORATORY in _codes(entry.resource.get("category"))


def _codes(concepts: Any, system: str | None = None) -> set[str]:
    concepts = concepts if isinstance(concepts, list) else [concepts]
    return {
        str(c.get("code"))
        for concept in concepts
        if isinstance(concept, dict)
        for c in concept.get("coding") or []
        if system is None or c.get("system") == system
    }


def _group(
    scope: Scope, first: Entry, observations: list[Entry], *, report: Entry | None
) -> LabGroup | None:
    """The group when the service of `first`'s LOINC code is fully reported, else None."""
    resource = first.resource
    if resource.get("status") not in ("final", "amended", "corrected"):
        return None
    if not _reference(resource, "encounter", "Encounter"):
        return None  # hm_core results belong to an encounter
    service = _service(scope, _codes(resource.get("code"), LOINC))
    if service is None or (report is None and len(service.analytes) != 1):
        return None
    values, members = [], {}
    for analyte in service.analytes:
        match = [o for o in observations if analyte.loinc_code in _codes(o.resource.get("code"))]
        value = _quantity(match[0].resource, analyte.unit) if len(match) == 1 else None
        if value is None:
            return None
        values.append({"code": analyte.code, "value": value, "unit": analyte.unit})
        members[match[0].index] = analyte.code
    key = f"{first.resource_type}/{first.source_id}"
    base = f"{scope.tenant_id}/{scope.facility_id}/{key}"
    ids = {k: uuid.uuid5(_NAMESPACE, f"{base}/{k}") for k in ("order", "item", "sample", "result")}
    return LabGroup(key, service, values, members, report, first, ids=ids)


def lab_observation_target(group: LabGroup, index: int) -> str:
    """`Observation/<result id>-<analyte>`: the id hm_core serves a mapped Observation under."""
    code = group.members[index]
    position = [v["code"] for v in group.values].index(code)
    return f"Observation/{group.ids['result']}-{analyte_key(code, position)}"


def _service(scope: Scope, loincs: set[str]) -> ServiceSpec | None:
    for code in sorted(loincs):
        spec = service_by_loinc(tenant_id=scope.tenant_id, loinc_code=code)
        if spec is not None and spec.order_type == domain.LAB_ORDER and spec.analytes:
            return spec
    return None


def _quantity(resource: dict[str, Any], unit: str) -> str | None:
    """The value as exact decimal text when it is a number in `unit` (or the same unit)."""
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("comparator"):
        return None
    sent = str(quantity.get("code") or quantity.get("unit") or "")
    if SAME_UNIT.get(sent, sent) != unit or not isinstance(quantity.get("value"), int | float):
        return None
    return str(quantity["value"])


def _reference(resource: dict[str, Any], name: str, kind: str) -> str | None:
    element = resource.get(name)
    reference = element.get("reference") if isinstance(element, dict) else None
    return reference if isinstance(reference, str) and reference else None


def _when(resource: dict[str, Any], *names: str) -> datetime | None:
    for name in names:
        raw = resource.get(name)
        if isinstance(raw, str) and "T" in raw:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return None


def lab_group_apply(scope: Scope, group: LabGroup, *, rewrite: Any, index: int) -> tuple[str, bool]:
    """Record the group's result once (later members only read it); the entry's location and
    whether this import created it."""
    if group.created is None:
        group.created = _record(scope, group, rewrite(group.first.resource))
        group.location = f"DiagnosticReport/{_report_id(scope, group.ids['result'])}"
    if index in group.members:
        return lab_observation_target(group, index), group.created
    return group.location, group.created


def _report_id(scope: Scope, result_id: uuid.UUID) -> uuid.UUID:
    with scope_active(scope):
        return lab_result_versions(scope=scope, result_id=result_id).values_list("id", flat=True)[0]


def _record(scope: Scope, group: LabGroup, resource: dict[str, Any]) -> bool:
    """The result as history; nothing when an earlier import recorded it (same ids)."""
    with scope_active(scope):
        try:
            lab_result_get(scope=scope, result_id=group.ids["result"])
            return False
        except NotFound:
            pass
        encounter = _encounter(scope, group, resource)
    values, _ = analytes.normalise({"analytes": group.values}, service=group.service)
    taken = _when(resource, "effectiveDateTime", "issued") or encounter.scheduled_at
    issued = _when(resource, "issued") or taken
    versions: dict[uuid.UUID, int] = {}
    with transaction.atomic():
        for stream, event in _history(group, encounter, values, taken):
            version = versions.get(stream.id, 0)
            occurred_at = issued if stream.type == "lab_result" else min(taken, issued)
            [recorded] = store.append(
                scope=scope, stream=stream, expected_version=version, events=[event],
                occurred_at=occurred_at,
            )  # fmt: skip
            bus.replay(recorded)
            versions[stream.id] = version + 1
    return True


def _encounter(scope: Scope, group: LabGroup, resource: dict[str, Any]) -> Any:
    reference = _reference(resource, "encounter", "Encounter") or ""
    subject = _reference(resource, "subject", "Patient") or ""
    try:
        encounter = encounter_get(
            scope=scope, encounter_id=uuid.UUID(reference.removeprefix("Encounter/"))
        )
    except (ValueError, NotFound):
        encounter = None
    if encounter is None or subject != f"Patient/{encounter.patient_id}":
        raise ValidationFailed(
            f"{group.source_key}: the encounter of a lab result must be an encounter of its "
            "subject on this server",
            details=[{"field": f"{group.source_key}.encounter", "message": "unknown encounter"}],
        )
    return encounter


def _history(
    group: LabGroup, encounter: Any, values: list[Any], taken: datetime
) -> list[tuple[StreamRef, DomainEvent]]:
    """Order placed, sample created and received, result entered, verified and released."""
    ids, spec = group.ids, group.service
    about = {
        "order_id": ids["order"],
        "encounter_id": encounter.id,
        "patient_id": encounter.patient_id,
    }
    specimen = spec.specimen_type or domain.UNSPECIFIED_SPECIMEN
    item = OrderedItem(
        item_id=ids["item"], service_code=spec.code, name=spec.name, loinc_code=spec.loinc_code,
        specimen_type=specimen, price=spec.price, currency=spec.currency,
    )  # fmt: skip
    placed = OrderPlaced(**about, order_type=domain.LAB_ORDER, priority="ROUTINE", items=[item])
    sample = {**about, "sample_id": ids["sample"], "item_ids": [ids["item"]]}
    barcode = f"EXT-{ids['sample'].hex[:16].upper()}"
    facts = domain.ItemFacts(
        ids["item"], ids["order"], encounter.id, encounter.patient_id, spec.code,
        ITEM_COLLECTED, ids["sample"], domain.RECEIVED, None,
    )  # fmt: skip
    result = domain.accept_final(
        facts, result_id=ids["result"], values=values, client_critical=False, comment="",
        laboratory=SENDER, verifier="",
    )  # fmt: skip
    order, specimen_stream = StreamRef("order", ids["order"]), StreamRef("sample", ids["sample"])
    created = SampleCreated(**sample, specimen_type=specimen, service_codes=[spec.code])
    return [
        (order, placed),
        (specimen_stream, created),
        (specimen_stream, SampleReceived(**sample, barcode=barcode, received_at=taken)),
        *[(StreamRef("lab_result", ids["result"]), event) for event in result],
    ]
