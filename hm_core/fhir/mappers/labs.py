"""Laboratory Observations (one per analyte of a result) and DiagnosticReports (one per
result version), with LOINC codes, units, reference ranges and interpretation flags."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from hm_core.catalog.selectors import ServiceSpec, services_by_code
from hm_core.fhir.mappers.common import ANALYTE_SYSTEM, LOINC, SERVICE_SYSTEM, drop_empty, ref
from hm_core.fhir.mappers.vitals import UCUM

CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory",
            "display": "Laboratory",
        }
    ]
}
REPORT_CATEGORY = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]
}
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
FLAGS = {"L": "Low", "H": "High", "LL": "Critical low", "HH": "Critical high", "N": "Normal"}
STATUS = {
    "ENTERED": "preliminary",
    "VERIFIED": "preliminary",
    "RELEASED": "final",
    "CORRECTED": "corrected",
}
_SAFE = re.compile(r"^[A-Za-z0-9.]{1,27}$")
_RANGE = re.compile(
    r"^(?:(?P<low>[-+.\d]+)-(?P<high>[-+.\d]+)|<=(?P<max>[-+.\d]+)|>=(?P<min>[-+.\d]+))$"
)


def analyte_key(code: str, index: int) -> str:
    """The Observation id suffix of an analyte: its code when an id may carry it."""
    return code if _SAFE.match(code) else f"a{index}"


def catalog(tenant_id: uuid.UUID, service_codes: set[str]) -> dict[str, ServiceSpec]:
    return (
        services_by_code(tenant_id=tenant_id, codes=sorted(service_codes)) if service_codes else {}
    )


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _reference_range(text: str, unit: str) -> list[dict[str, Any]]:
    if not text:
        return []
    match = _RANGE.match(text)
    found: dict[str, Any] = {"text": text}
    if match:
        low = match.group("low") or match.group("min")
        high = match.group("high") or match.group("max")
        for key, bound in (("low", low), ("high", high)):
            number = _number(bound) if bound else None
            if number is not None:
                found[key] = {"value": float(number), "unit": unit, "system": UCUM, "code": unit}
    return [found]


def _code(value: dict[str, Any], spec: ServiceSpec | None) -> dict[str, Any]:
    analyte = next((a for a in spec.analytes if a.code == value["code"]), None) if spec else None
    coding = (
        [{"system": LOINC, "code": analyte.loinc_code}] if analyte and analyte.loinc_code else []
    )
    coding.append({"system": ANALYTE_SYSTEM, "code": value["code"]})
    return {"coding": coding, "text": analyte.name if analyte else value["code"]}


def lab_observation(
    result: Any, state: dict[str, Any], index: int, spec: ServiceSpec | None
) -> dict[str, Any]:
    """The Observation of the `index`th analyte of a result in one state (values, status)."""
    value = state["values"][index]
    number = _number(str(value["value"]))
    flag = value.get("flag") or ("N" if number is not None and value.get("reference_range") else "")
    shown: dict[str, Any] = (
        {
            "valueQuantity": {
                "value": float(number),
                "unit": value["unit"],
                "system": UCUM,
                "code": value["unit"],
            }
        }
        if number is not None
        else {"valueString": str(value["value"])}
    )
    return drop_empty(
        {
            "resourceType": "Observation",
            "id": f"{result.id}-{analyte_key(value['code'], index)}",
            "status": STATUS.get(state["status"], "preliminary"),
            "category": [CATEGORY],
            "code": _code(value, spec),
            "subject": ref("Patient", result.patient_id),
            "encounter": ref("Encounter", result.encounter_id),
            "effectiveDateTime": result.created_at.isoformat(),
            "issued": state["issued"].isoformat() if state.get("issued") else None,
            **shown,
            "interpretation": (
                [{"coding": [{"system": INTERPRETATION, "code": flag, "display": FLAGS[flag]}]}]
                if flag in FLAGS
                else []
            ),
            "referenceRange": _reference_range(value.get("reference_range", ""), value["unit"]),
            "note": [{"text": state["comment"]}] if state.get("comment") else [],
        }
    )


def diagnostic_report(
    result: Any, version: Any, *, latest: bool, spec: ServiceSpec | None
) -> dict[str, Any]:
    """The report of one result version; `result` references its analytes' Observations."""
    status = (
        STATUS.get(result.status, "preliminary")
        if latest
        else ("final" if version.status == "ENTERED" else "corrected")
    )
    code = [{"system": LOINC, "code": spec.loinc_code}] if spec and spec.loinc_code else []
    code.append({"system": SERVICE_SYSTEM, "code": result.service_code})
    return drop_empty(
        {
            "resourceType": "DiagnosticReport",
            "id": str(version.id),
            "identifier": [
                {"system": "urn:hm-core:lab-result", "value": f"{result.id}/{version.version}"}
            ],
            "status": status,
            "category": [REPORT_CATEGORY],
            "code": {"coding": code, "text": spec.name if spec else result.service_code},
            "subject": ref("Patient", result.patient_id),
            "encounter": ref("Encounter", result.encounter_id),
            "effectiveDateTime": result.created_at.isoformat(),
            "issued": version.created_at.isoformat(),
            "result": [
                ref("Observation", f"{result.id}-{analyte_key(v['code'], i)}")
                for i, v in enumerate(version.values)
            ],
            "conclusion": version.comment or None,
        }
    )
