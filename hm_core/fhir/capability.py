"""The CapabilityStatement: built from the registry, so it lists exactly what works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from hm_core.fhir.registry import registered

_SECURITY = "Bearer token from /api/auth/token/; X-Tenant-ID and X-Facility-ID headers"
INTERACTIONS = ("read", "vread", "history-instance", "search-type")


def capability_statement(*, base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": getattr(settings, "FHIR_CAPABILITY_DATE", "2026-12-01"),
        "publisher": "hm_core",
        "kind": "instance",
        "software": {"name": "hm_core"},
        "implementation": {"description": "hm_core FHIR R4 API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ],
                            "text": _SECURITY,
                        }
                    ]
                },
                "resource": [_resource(mapper) for mapper in registered()],
            }
        ],
    }


def _resource(mapper: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": mapper.resource_type,
        "interaction": [{"code": code} for code in INTERACTIONS],
        "versioning": "versioned",
        "readHistory": True,
        "searchParam": [
            {"name": p.name, "type": p.type, "documentation": p.documentation}
            for p in mapper.search_params
        ],
    }
    if mapper.profile:
        found["supportedProfile"] = [mapper.profile]
    return found
