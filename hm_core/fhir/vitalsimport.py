"""Imported vital-signs Observations → an encounter's recorded vitals.

hm_core records vitals as one set (NEWS2 is scored on the set): blood pressure, pulse,
temperature and SpO₂, respiratory rate optional. The vital-signs Observations of one encounter
taken at one time (`effectiveDateTime`) map when together they make such a set:

| vitals field | LOINC (FHIR vital-signs profile) | unit |
|---|---|---|
| blood pressure | `85354-9` (Synthea: `55284-4`) panel, `8480-6`/`8462-4` | `mm[Hg]` |
| pulse | `8867-4` | `/min` |
| temperature | `8310-5` (`8331-1` oral, `8332-9`, `8328-7`, `8333-7`) | `Cel`, `[degF]` |
| SpO₂ | `59408-5` or `2708-6` | `%` |
| respiratory rate | `9279-1` | `/min` |

Numbers are rounded to the integers hm_core keeps (temperature to 0.01). The set is appended
to the encounter's stream at its own time and replayed through projections only (no task, no
NEWS2 alert), as imported encounters are; its Observations are then served by the vitals mapper
(`<vitals id>-bp`, `-hr`, ...). A set that is incomplete or physiologically impossible, and
every other vital sign (weight, height, BMI, pain score: hm_core's vitals have no field for
them), is kept as sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction

from hm_core.common.errors import ValidationFailed
from hm_core.common.scope import Scope
from hm_core.encounters.domain import vitals_recorded
from hm_core.encounters.news2 import Vitals, vitals_problems
from hm_core.events import bus, store
from hm_core.events.base import StreamRef
from hm_core.fhir.reads import BundleReads, EncounterFacts, subjects_encounter

if TYPE_CHECKING:
    from hm_core.fhir.transaction import Entry

VITAL_SIGNS = "vital-signs"
BP_PANELS = frozenset({"85354-9", "55284-4"})
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
KIND_OF = {
    "8867-4": "hr",
    "8310-5": "temp",
    "8331-1": "temp",
    "8332-9": "temp",
    "8328-7": "temp",
    "8333-7": "temp",
    "59408-5": "spo2",
    "2708-6": "spo2",
    "9279-1": "rr",
} | dict.fromkeys(BP_PANELS, "bp")
UNITS = {"bp": {"mm[Hg]"}, "hr": {"/min"}, "spo2": {"%"}, "rr": {"/min"}}
TEMPERATURE_UNITS = {"Cel": "C", "[degF]": "F"}
REQUIRED = frozenset({"bp", "hr", "temp", "spo2"})
_NAMESPACE = uuid.UUID("0b7a3d1e-52a4-4c8e-9e44-6f1f2c9d8b37")


@dataclass
class VitalsGroup:
    """One set of vitals: the Observation entries (index → kind) and what they measured."""

    members: dict[int, str]
    vitals: Vitals
    first: Entry
    vitals_id: uuid.UUID
    created: bool | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def planned_target(self, index: int) -> str:
        return f"Observation/{self.vitals_id}-{self.members[index]}"

    def apply(self, reads: BundleReads, *, rewrite: Any, index: int) -> tuple[str, bool]:
        """Record the set once (later members only read it); the location, and whether this
        import created it."""
        if self.created is None:
            self.created = _record(reads, self, rewrite(self.first.resource))
        return self.planned_target(index), self.created


def plan_vitals_groups(scope: Scope, entries: list[Entry]) -> dict[int, VitalsGroup]:
    """The Bundle's complete vitals sets, by the index of each Observation entry they take."""
    sets: dict[tuple[str, str], dict[str, list[Entry]]] = {}
    for entry in entries:
        kind = _kind(entry)
        if kind is None:
            continue
        resource = entry.resource
        key = (str(resource["encounter"]["reference"]), str(resource["effectiveDateTime"]))
        sets.setdefault(key, {}).setdefault(kind, []).append(entry)
    groups: dict[int, VitalsGroup] = {}
    for found in sets.values():
        # two values of one kind at one time are no set hm_core could record: that kind is left
        group = _group(scope, {k: e[0] for k, e in found.items() if len(e) == 1})
        if group is not None:
            groups |= dict.fromkeys(group.members, group)
    return groups


def _kind(entry: Entry) -> str | None:
    resource = entry.resource
    if entry.resource_type != "Observation" or entry.problem is not None:
        return None
    if resource.get("status") not in ("final", "amended", "corrected"):
        return None
    categories = {
        c.get("code") for cat in resource.get("category") or [] for c in cat.get("coding") or []
    }
    encounter = resource.get("encounter") or {}
    if VITAL_SIGNS not in categories or not encounter.get("reference"):
        return None
    if not str(resource.get("effectiveDateTime") or ""):
        return None
    codes = [c.get("code") for c in (resource.get("code") or {}).get("coding") or []]
    return next((KIND_OF[c] for c in codes if c in KIND_OF), None)


def _number(quantity: Any, units: set[str]) -> Decimal | None:
    if not isinstance(quantity, dict) or quantity.get("comparator"):
        return None
    if str(quantity.get("code") or quantity.get("unit") or "") not in units:
        return None
    value = quantity.get("value")
    return Decimal(str(value)) if isinstance(value, int | float) else None


def _measured(kind: str, resource: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "bp":
        parts = {
            c.get("code"): _number(comp.get("valueQuantity"), UNITS["bp"])
            for comp in resource.get("component") or []
            for c in (comp.get("code") or {}).get("coding") or []
        }
        systolic, diastolic = parts.get(SYSTOLIC), parts.get(DIASTOLIC)
        if systolic is None or diastolic is None:
            return None
        return {
            "blood_pressure_systolic": _whole(systolic),
            "blood_pressure_diastolic": _whole(diastolic),
        }
    if kind == "temp":
        quantity = resource.get("valueQuantity") or {}
        unit = str(quantity.get("code") or quantity.get("unit") or "")
        value = _number(quantity, set(TEMPERATURE_UNITS))
        if value is None:
            return None
        return {
            "temperature": value.quantize(Decimal("0.01"), ROUND_HALF_UP),
            "temperature_unit": TEMPERATURE_UNITS[unit],
        }
    value = _number(resource.get("valueQuantity"), UNITS[kind])
    name = {"hr": "pulse", "spo2": "spo2", "rr": "respiratory_rate"}[kind]
    return None if value is None else {name: _whole(value)}


def _whole(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), ROUND_HALF_UP))


def _group(scope: Scope, found: dict[str, Entry]) -> VitalsGroup | None:
    if not set(found) >= REQUIRED:
        return None
    fields: dict[str, Any] = {}
    for kind, entry in found.items():
        measured = _measured(kind, entry.resource)
        if measured is None:
            if kind in REQUIRED:
                return None
            continue
        fields |= measured
    vitals = Vitals(**fields)
    if vitals_problems(vitals):
        return None
    members = {
        e.index: k for k, e in found.items() if k in REQUIRED or "respiratory_rate" in fields
    }
    first = found["bp"]
    key = f"{scope.tenant_id}/{scope.facility_id}/Observation/{first.source_id}/vitals"
    return VitalsGroup(members, vitals, first, uuid.uuid5(_NAMESPACE, key), fields=fields)


def _record(reads: BundleReads, group: VitalsGroup, resource: dict[str, Any]) -> bool:
    """The set appended to its encounter's stream; nothing when an earlier import did it
    (the Bundle's reads know which sets exist)."""
    if group.vitals_id in reads.vitals:
        return False
    scope, encounter = reads.scope, _encounter(reads, resource)
    event = vitals_recorded(
        encounter_id=encounter.id,
        patient_id=encounter.patient_id,
        vitals_id=group.vitals_id,
        vitals=group.vitals,
    )
    taken = datetime.fromisoformat(str(resource["effectiveDateTime"]).replace("Z", "+00:00"))
    with transaction.atomic():
        # None: the version this unit of work reached for the stream, else the stored one
        [recorded] = store.append(
            scope=scope,
            stream=StreamRef("encounter", encounter.id),
            expected_version=None,
            events=[event],
            occurred_at=taken,
        )
        bus.replay(recorded)
    reads.vitals.add(group.vitals_id)
    return True


def _encounter(reads: BundleReads, resource: dict[str, Any]) -> EncounterFacts:
    found = subjects_encounter(reads, resource)
    if found is None:
        raise ValidationFailed(
            "Vital signs must belong to an encounter of their subject on this server.",
            details=[{"field": "Observation.encounter", "message": "unknown encounter"}],
        )
    return found
