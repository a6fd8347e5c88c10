"""Vital-sign Observations of one vitals record, coded as the FHIR vital-signs profile asks
(https://hl7.org/fhir/R4/observation-vitalsigns.html). A record is immutable: version 1."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hm_core.fhir.mappers.common import LOINC, ref
from hm_core.fhir.registry import Version

UCUM = "http://unitsofmeasure.org"
CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
    ]
}
PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
# Observation id suffix → (LOINC code, display, profile) of each vital sign.
KINDS: dict[str, tuple[str, str, str]] = {
    "bp": ("85354-9", "Blood pressure panel with all children optional", "bp"),
    "hr": ("8867-4", "Heart rate", "heartrate"),
    "temp": ("8310-5", "Body temperature", "bodytemp"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "oxygensat"),
    "rr": ("9279-1", "Respiratory rate", "resprate"),
}
CODE_KIND = {loinc: kind for kind, (loinc, _, _) in KINDS.items()} | {"2708-6": "spo2"}


def _code(loinc: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display}


def _quantity(value: Any, unit: str, code: str) -> dict[str, Any]:
    return {"value": float(Decimal(str(value))), "unit": unit, "system": UCUM, "code": code}


def _value(row: Any, kind: str) -> dict[str, Any]:
    if kind == "bp":
        return {
            "component": [
                {
                    "code": _code("8480-6", "Systolic blood pressure"),
                    "valueQuantity": _quantity(row.blood_pressure_systolic, "mmHg", "mm[Hg]"),
                },
                {
                    "code": _code("8462-4", "Diastolic blood pressure"),
                    "valueQuantity": _quantity(row.blood_pressure_diastolic, "mmHg", "mm[Hg]"),
                },
            ]
        }
    if kind == "hr":
        return {"valueQuantity": _quantity(row.pulse, "beats/minute", "/min")}
    if kind == "rr":
        return {"valueQuantity": _quantity(row.respiratory_rate, "breaths/minute", "/min")}
    if kind == "spo2":
        return {"valueQuantity": _quantity(row.spo2, "%", "%")}
    celsius = row.temperature_unit == "C"
    unit = ("Cel", "C") if celsius else ("[degF]", "degF")
    return {"valueQuantity": _quantity(row.temperature, unit[1], unit[0])}


def kinds_of(row: Any) -> list[str]:
    return [k for k in KINDS if k != "rr" or row.respiratory_rate is not None]


def vital_observation(row: Any, kind: str) -> Version:
    loinc, display, profile = KINDS[kind]
    code = _code(loinc, display)
    if kind == "spo2":
        code["coding"].append({"system": LOINC, "code": "2708-6", "display": "Oxygen saturation"})
    resource = {
        "resourceType": "Observation",
        "id": f"{row.id}-{kind}",
        "meta": {"profile": [f"http://hl7.org/fhir/StructureDefinition/{profile}"]},
        "status": "final",
        "category": [CATEGORY],
        "code": code,
        "subject": ref("Patient", row.patient_id),
        "encounter": ref("Encounter", row.encounter_id),
        "effectiveDateTime": row.recorded_at.isoformat(),
        "issued": row.recorded_at.isoformat(),
        **_value(row, kind),
    }
    return Version(
        resource=resource, version_id=1, last_updated=row.recorded_at, patient_id=row.patient_id
    )
