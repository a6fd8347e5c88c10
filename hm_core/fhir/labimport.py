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

from django.apps import apps
from django.db import transaction

from hm_core.catalog.selectors import ServiceSpec
from hm_core.common.errors import ValidationFailed
from hm_core.common.scope import scope_active
from hm_core.events import bus, store
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.unit_of_work import written_row
from hm_core.fhir.mappers.common import LOINC
from hm_core.fhir.mappers.labs import analyte_key
from hm_core.fhir.reads import BundleReads, EncounterFacts, subjects_encounter
from hm_core.lab import analytes, domain
from hm_core.lab.events import SampleCreated, SampleReceived
from hm_core.lab.selectors import lab_result_versions
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

    def apply(self, reads: BundleReads, *, rewrite: Any, index: int) -> tuple[str, bool]:
        return lab_group_apply(reads, self, rewrite=rewrite, index=index)


def plan_lab_groups(reads: BundleReads, entries: list[Entry]) -> dict[int, LabGroup]:
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
        group = _group(reads, entry, found, report=entry)
        if group is not None and len(found) == len(members):
            groups |= dict.fromkeys([entry.index, *group.members], group)
    for entry in by_key.values():
        if entry.index not in referenced and entry.index not in groups and _is_lab(entry):
            group = _group(reads, entry, [entry], report=None)
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
    reads: BundleReads, first: Entry, observations: list[Entry], *, report: Entry | None
) -> LabGroup | None:
    """The group when the service of `first`'s LOINC code is fully reported, else None."""
    resource = first.resource
    if resource.get("status") not in ("final", "amended", "corrected"):
        return None
    if not _reference(resource, "encounter", "Encounter"):
        return None  # hm_core results belong to an encounter
    service = _service(reads, _codes(resource.get("code"), LOINC))
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
    base = f"{reads.scope.tenant_id}/{reads.scope.facility_id}/{key}"
    ids = {k: uuid.uuid5(_NAMESPACE, f"{base}/{k}") for k in ("order", "item", "sample", "result")}
    return LabGroup(key, service, values, members, report, first, ids=ids)


def lab_observation_target(group: LabGroup, index: int) -> str:
    """`Observation/<result id>-<analyte>`: the id hm_core serves a mapped Observation under."""
    code = group.members[index]
    position = [v["code"] for v in group.values].index(code)
    return f"Observation/{group.ids['result']}-{analyte_key(code, position)}"


def _service(reads: BundleReads, loincs: set[str]) -> ServiceSpec | None:
    for code in sorted(loincs):
        spec = reads.service(code)
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


def lab_group_apply(
    reads: BundleReads, group: LabGroup, *, rewrite: Any, index: int
) -> tuple[str, bool]:
    """Record the group's result once (later members only read it); the entry's location and
    whether this import created it."""
    if group.created is None:
        group.created = _record(reads, group, rewrite(group.first.resource))
        group.location = f"DiagnosticReport/{_report_id(reads, group.ids['result'])}"
    if index in group.members:
        return lab_observation_target(group, index), group.created
    return group.location, group.created


def _report_id(reads: BundleReads, result_id: uuid.UUID) -> uuid.UUID:
    """The result's first reported version (the DiagnosticReport's id)."""
    if result_id not in reads.reports:
        with scope_active(reads.scope):
            versions = lab_result_versions(scope=reads.scope, result_id=result_id)
            reads.reports[result_id] = versions.values_list("id", flat=True)[0]
    return reads.reports[result_id]


def _record(reads: BundleReads, group: LabGroup, resource: dict[str, Any]) -> bool:
    """The result as history; nothing when an earlier import recorded it (same ids: the
    Bundle's reads know which results have a reported version)."""
    if group.ids["result"] in reads.reports:
        return False
    scope, encounter = reads.scope, _encounter(reads, group, resource)
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
            _note_version(reads, group, recorded)
    return True


def _note_version(reads: BundleReads, group: LabGroup, recorded: Any) -> None:
    """The result's first version, as its projection just queued it (read back otherwise)."""
    result_id = group.ids["result"]
    if result_id not in reads.reports and recorded.meta.stream.id == result_id:
        # the lab module's read model, named without importing it (modules import selectors)
        row = written_row(apps.get_model("lab", "LabResultVersion"), recorded.meta.event_id)
        if row is not None:
            reads.reports[result_id] = row.pk


def _encounter(reads: BundleReads, group: LabGroup, resource: dict[str, Any]) -> EncounterFacts:
    encounter = subjects_encounter(reads, resource)
    if encounter is None:
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
