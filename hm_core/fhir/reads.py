"""What a Bundle's entries look up, read once per Bundle instead of once per entry.

A transaction Bundle is one unit of work (`hm_core.events.unit_of_work`): its writes are queued
and flushed in a few grouped statements, but a read of a table with queued writes flushes them
first. So the lookups the entries need — identifiers of stored resources, their current rows,
the catalog services of LOINC codes, encounters by visit number, vitals sets and lab results an
earlier import recorded — are read here in one query each before the first write, and what the
Bundle itself creates is added as it goes (an encounter imported by one entry is the encounter
of the vital signs of another).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hm_core.catalog.selectors import ServiceSpec, service_by_loinc
from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope, scope_active
from hm_core.encounters.selectors import encounter_get, encounter_list, vitals_list
from hm_core.fhir.models import StoredIdentifier, StoredResource
from hm_core.lab.selectors import lab_result_version_list


@dataclass(frozen=True)
class EncounterFacts:
    """What an imported vitals set or lab result needs of its encounter."""

    id: uuid.UUID
    patient_id: uuid.UUID
    scheduled_at: datetime


@dataclass
class BundleReads:
    scope: Scope
    identifiers: dict[tuple[str, str], set[uuid.UUID]] = field(default_factory=dict)
    stored: dict[uuid.UUID, StoredResource] = field(default_factory=dict)
    encounters: dict[uuid.UUID, EncounterFacts] = field(default_factory=dict)
    by_visit: dict[str, EncounterFacts] = field(default_factory=dict)
    visits_read: set[str] = field(default_factory=set)  # looked up, found or not
    vitals: set[uuid.UUID] = field(default_factory=set)  # vitals sets already recorded
    reports: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # result → 1st version
    services: dict[str, ServiceSpec | None] = field(default_factory=dict)

    def load_identifiers(self, keys: Iterable[tuple[str, str]]) -> None:
        """The stored resources carrying each (type, `system|value`)."""
        wanted = set(keys)
        if not wanted:
            return
        with scope_active(self.scope):
            rows = StoredIdentifier.objects.for_scope(self.scope).filter(
                resource_type__in={t for t, _ in wanted}, key__in={k for _, k in wanted}
            )
            for kind, key, resource_id in rows.values_list("resource_type", "key", "resource_id"):
                self.identifiers.setdefault((kind, key), set()).add(resource_id)

    def load_stored(self, ids: Iterable[uuid.UUID]) -> None:
        """The current row of each stored resource the Bundle writes, if it exists."""
        wanted = set(ids) - set(self.stored)
        if wanted:
            with scope_active(self.scope):
                found = StoredResource.objects.for_scope(self.scope).filter(id__in=wanted)
                self.stored |= {row.id: row for row in found}

    def load_encounters(self, visit_numbers: Iterable[str]) -> None:
        wanted = set(visit_numbers) - self.visits_read
        if not wanted:
            return
        self.visits_read |= wanted
        with scope_active(self.scope):
            rows = encounter_list(scope=self.scope, patient=None, status=None).filter(
                visit_number__in=wanted
            )
            for row in rows.order_by("pk"):
                if row.visit_number not in self.by_visit:  # the first, as a lookup by one finds
                    self.remember(row.visit_number, row.id, row.patient_id, row.scheduled_at)

    def remember(
        self, visit_number: str, encounter_id: uuid.UUID, patient_id: uuid.UUID, at: datetime
    ) -> None:
        facts = EncounterFacts(encounter_id, patient_id, at)
        self.by_visit[visit_number] = self.encounters[encounter_id] = facts

    def encounter(self, encounter_id: uuid.UUID) -> EncounterFacts:
        """The encounter (404 when the facility has none with this id)."""
        if encounter_id not in self.encounters:
            with scope_active(self.scope):
                row = encounter_get(scope=self.scope, encounter_id=encounter_id)
            self.encounters[encounter_id] = EncounterFacts(row.id, row.patient_id, row.scheduled_at)
        return self.encounters[encounter_id]

    def load_recorded(self, *, vitals: Iterable[uuid.UUID], results: Iterable[uuid.UUID]) -> None:
        """Which planned vitals sets and lab results an earlier import recorded."""
        vitals, results = set(vitals), set(results)
        with scope_active(self.scope):
            if vitals:
                found = vitals_list(scope=self.scope).filter(id__in=vitals)
                self.vitals |= set(found.values_list("id", flat=True))
            if results:
                versions = lab_result_version_list(scope=self.scope).filter(result_id__in=results)
                for result_id, version_id in versions.order_by("-version").values_list(
                    "result_id", "id"
                ):
                    self.reports[result_id] = version_id  # the lowest version wins

    def service(self, loinc_code: str) -> ServiceSpec | None:
        """The tenant's service coded with this LOINC (memoised for the Bundle)."""
        if loinc_code not in self.services:
            self.services[loinc_code] = service_by_loinc(
                tenant_id=self.scope.tenant_id, loinc_code=loinc_code
            )
        return self.services[loinc_code]


def subjects_encounter(reads: BundleReads, resource: dict[str, Any]) -> EncounterFacts | None:
    """The encounter a clinical resource references, if it is on this server and belongs to
    the resource's own subject (an import never files data under another patient's visit)."""
    encounter, subject = (_reference(resource.get(name)) for name in ("encounter", "subject"))
    try:
        found = reads.encounter(uuid.UUID(encounter.removeprefix("Encounter/")))
    except (ValueError, NotFound):
        return None
    return found if subject == f"Patient/{found.patient_id}" else None


def _reference(element: Any) -> str:
    reference = element.get("reference") if isinstance(element, dict) else None
    return reference if isinstance(reference, str) else ""
