"""The CapabilityStatement: built from the registry, so it lists exactly what works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from hm_core.fhir.registry import registered
from hm_core.fhir.validation import resource_types

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
                "resource": _resources(),
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }


def _resources() -> list[dict[str, Any]]:
    """The registered types (with the store's parameters beside theirs), then every other R4
    type, kept as sent by imports and searchable by patient, subject and _lastUpdated."""
    from hm_core.fhir.stored import StoredMapper, WithStored

    own = {m.resource_type: _resource(WithStored(m)) for m in registered()}
    others = {t: _resource(StoredMapper(t)) for t in resource_types() if t not in own}
    return [{**own, **others}[name] for name in sorted({*own, *others})]


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
