"""Coverage ← patients' coverages (tenant-wide; one event each, `billing.coverage_added`, so
one version), Claim ← claims with their lines and diagnoses (every version folded from the
claim stream: created, submitted, adjudicated)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from hm_core.billing.domain import CLAIM_STATUSES
from hm_core.billing.events import ClaimAdjudicated, ClaimCreated, ClaimSubmitted
from hm_core.billing.member_ids import member_id_read
from hm_core.billing.models import Coverage
from hm_core.billing.selectors import (
    ClaimFilters,
    claim_get,
    claim_list,
    coverage_all,
    coverage_get,
    payer_list,
)
from hm_core.common.scope import Scope
from hm_core.events.base import EventMeta
from hm_core.fhir import params
from hm_core.fhir.mappers.clinical import PATIENT, filtered
from hm_core.fhir.mappers.common import SERVICE_SYSTEM, drop_empty, fold_stream, ref
from hm_core.fhir.registry import (
    Criteria,
    Mapper,
    SearchParam,
    Source,
    Version,
    parse_uuid,
    register,
)

MEMBER_SYSTEM = "urn:hm-core:member-id"
PAYER_SYSTEM = "urn:hm-core:payer-code"
FACILITY_SYSTEM = "urn:hm-core:facility"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"


def _money(amount: Decimal | str, currency: str) -> dict[str, Any]:
    """FHIR Money: a JSON number (our amounts have two decimals, exact as a float's repr)."""
    return {"value": float(Decimal(amount)), "currency": currency}


def _payers(scope: Scope, payer_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, Any]:
    ids = {pid for pid in payer_ids if pid is not None}
    if not ids:
        return {}
    return {p.id: p for p in payer_list(scope=scope, kind=None).filter(id__in=ids)}


def _payer_ref(payer: Any) -> dict[str, Any]:
    """A payer is named by its code (no Organization is served for it)."""
    return {
        "identifier": {"system": PAYER_SYSTEM, "value": payer.payer_code},
        "display": payer.name,
    }


# ---------------------------------------------------------------- Coverage


def coverage_resource(coverage: Coverage, payer: Any) -> dict[str, Any]:
    member_id = member_id_read(coverage.member_id)
    classes = [
        {"type": {"coding": [{"system": f"{TERMINOLOGY}/coverage-class", "code": code}]},
         "value": value}
        for code, value in (("group", coverage.group_number), ("plan", coverage.plan_name))
        if value
    ]  # fmt: skip
    return drop_empty(
        {
            "resourceType": "Coverage",
            "id": str(coverage.id),
            "identifier": [{"system": MEMBER_SYSTEM, "value": member_id}] if member_id else [],
            "status": "active",
            "subscriberId": member_id or None,
            "beneficiary": ref("Patient", coverage.patient_id),
            "relationship": {
                "coding": [
                    {
                        "system": f"{TERMINOLOGY}/subscriber-relationship",
                        "code": coverage.relationship,
                    }
                ]
            },
            "period": drop_empty(
                {
                    "start": coverage.valid_from.isoformat(),
                    "end": coverage.valid_to.isoformat() if coverage.valid_to else None,
                }
            ),
            "payor": [_payer_ref(payer) if payer else {"display": "unknown payer"}],
            "class": classes,
            "order": coverage.priority,
        }
    )


class CoverageMapper(Mapper):
    """A coverage is never changed after `billing.coverage_added`: its only version is 1. The
    member id is served decrypted (`billing.member_ids.member_id_read`), as the API shows it."""

    resource_type = "Coverage"
    permission = "coverages.view"
    search_params = (PATIENT, SearchParam("status", "token", "active"))

    def _versions(self, scope: Scope, rows: list[Coverage]) -> list[list[Version]]:
        payers = _payers(scope, (row.payer_id for row in rows))
        return [
            [Version(coverage_resource(row, payers.get(row.payer_id)), 1, row.created_at,
                     row.patient_id)]
            for row in rows
        ]  # fmt: skip

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        uid = parse_uuid(resource_id, self.resource_type)
        return self._versions(scope, [coverage_get(scope=scope, coverage_id=uid)])[0]

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        statuses = [v for value in criteria.pop("status", []) for v in params.or_values(value)]
        rows = filtered(coverage_all(scope=scope), criteria)
        if statuses and "active" not in statuses:  # every coverage is `active`
            rows = rows.none()
        return [Source(rows=rows, expand=lambda batch: self._versions(scope, batch))]


# ---------------------------------------------------------------- Claim

CLAIM_STATUS = {"DRAFT": "draft"}  # every later status (submitted, adjudicated, paid) is active
_CLAIM_FIELDS = (
    "id", "patient_id", "encounter_id", "payer_id", "coverage_id", "status", "currency", "total",
    "lines", "diagnoses", "created_at", "facility_id",
)  # fmt: skip


def _claim_status(status: str) -> str:
    return CLAIM_STATUS.get(status, "active")


def claim_resource(state: dict[str, Any], payer: Any) -> dict[str, Any]:
    """The FHIR Claim of one state of a claim: its invoice lines as items (service code, net
    amount, the encounter) and the assessment's ICD-10 diagnoses. The payer's decision per
    line belongs to a ClaimResponse, which is not served."""
    currency = state["currency"]
    diagnoses = [
        {
            "sequence": n,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10, "code": d["code"]}]},
        }
        for n, d in enumerate(state.get("diagnoses") or [], start=1)
    ]
    items = [
        drop_empty(
            {
                "sequence": line["line"],
                "diagnosisSequence": [d["sequence"] for d in diagnoses],
                "productOrService": {
                    "coding": [{"system": SERVICE_SYSTEM, "code": line["service_code"]}],
                    "text": line["description"],
                },
                "unitPrice": _money(line["amount"], currency),
                "net": _money(line["amount"], currency),
                "encounter": [ref("Encounter", state["encounter_id"])],
            }
        )
        for line in state.get("lines") or []
    ]
    coverage = ref("Coverage", state.get("coverage_id")) or {"display": "no coverage (self-pay)"}
    return drop_empty(
        {
            "resourceType": "Claim",
            "id": str(state["id"]),
            "status": _claim_status(state["status"]),
            "type": {"coding": [{"system": f"{TERMINOLOGY}/claim-type", "code": "professional"}]},
            "use": "claim",
            "patient": ref("Patient", state["patient_id"]),
            "created": state["created_at"].isoformat(),
            "insurer": _payer_ref(payer) if payer else None,
            "provider": {
                "identifier": {"system": FACILITY_SYSTEM, "value": str(state["facility_id"])}
            },
            "priority": {
                "coding": [{"system": f"{TERMINOLOGY}/processpriority", "code": "normal"}]
            },
            "insurance": [{"sequence": 1, "focal": True, "coverage": coverage}],
            "diagnosis": diagnoses,
            "item": items,
            "total": _money(state["total"], currency),
        }
    )


def _claim_apply(state: dict[str, Any], event: Any, meta: EventMeta) -> None:
    if isinstance(event, ClaimCreated):
        state.update(
            event.model_dump(
                mode="json", include={"lines", "diagnoses", "currency", "total"}
            ),
            id=event.claim_id, patient_id=event.patient_id, encounter_id=event.encounter_id,
            payer_id=event.payer_id, coverage_id=event.coverage_id, status="DRAFT",
            created_at=meta.occurred_at, facility_id=meta.facility_id,
        )  # fmt: skip
    elif isinstance(event, ClaimSubmitted):
        state["status"] = "SUBMITTED"
    elif isinstance(event, ClaimAdjudicated):
        state["status"] = event.status


class ClaimMapper(Mapper):
    resource_type = "Claim"
    permission = "claims.view"
    search_params = (PATIENT, SearchParam("status", "token", "draft | active"))

    def _versions(self, scope: Scope, rows: list[Any]) -> list[list[Version]]:
        payers = _payers(scope, (row.payer_id for row in rows))
        return [
            [
                Version(
                    claim_resource({name: getattr(row, name) for name in _CLAIM_FIELDS},
                                   payers.get(row.payer_id)),
                    row.version, row.updated_at, row.patient_id,
                )
            ]
            for row in rows
        ]  # fmt: skip

    def read(self, scope: Scope, resource_id: str) -> Version:
        uid = parse_uuid(resource_id, self.resource_type)
        return self._versions(scope, [claim_get(scope=scope, claim_id=uid)])[0][0]

    def history(self, scope: Scope, resource_id: str) -> list[Version]:
        found = claim_get(scope=scope, claim_id=parse_uuid(resource_id, self.resource_type))
        payer = _payers(scope, [found.payer_id]).get(found.payer_id) if found.payer_id else None
        return fold_stream(
            scope, found.id, apply=_claim_apply,
            render=lambda state: (claim_resource(state, payer), state["patient_id"]),
        ) or self._versions(scope, [found])[0]  # fmt: skip

    def search(self, scope: Scope, criteria: Criteria) -> list[Source]:
        rows = filtered(
            claim_list(scope=scope, filters=ClaimFilters()),
            criteria,
            status=lambda fhir: [s for s in CLAIM_STATUSES if _claim_status(s) == fhir],
        )
        return [Source(rows=rows, expand=lambda batch: self._versions(scope, batch))]


register(CoverageMapper())
register(ClaimMapper())
