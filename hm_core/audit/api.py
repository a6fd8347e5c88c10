"""Contract §8: the audit trail and the hash-chain check, for auditors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from hm_core.audit.schemas import (
    AuditListFilters,
    AuditPageOut,
    ChainVerifyFilters,
    ChainVerifyOut,
    CheckpointListFilters,
    CheckpointPageOut,
)
from hm_core.audit.selectors import AuditFilters, audit_record_list
from hm_core.audit.trail import LOG as TRAIL
from hm_core.common.pagination import paginate
from hm_core.common.schemas import ErrorOut
from hm_core.common.scope import Scope, scope_active
from hm_core.events.chain import verify_chain
from hm_core.events.checkpoints import checkpoint_count, checkpoint_page
from hm_core.events.projection_check import verify_projections

router = Router(tags=["audit"])
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut}


@router.get("/events/", response={200: AuditPageOut, **ERRORS})
def audit_events(request: HttpRequest, filters: Query[AuditListFilters]) -> dict[str, Any]:
    """The tenant's audit trail, newest first: every event and every read of patient data."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    scope.require("audit.view")
    with scope_active(scope):
        qs = audit_record_list(
            scope=scope,
            filters=AuditFilters(filters.patient, filters.actor, filters.since, filters.until),
        )
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/verify/", response={200: ChainVerifyOut, **ERRORS})
def audit_verify(request: HttpRequest, filters: Query[ChainVerifyFilters]) -> dict[str, Any]:
    """Recompute the tenant's hash chain and its audit trail's, hold them against their latest
    signed checkpoints and name the first broken link, if any; with `projections=true`, also
    rebuild the read models aside and list the live rows that differ."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    scope.require("audit.verify")
    report = verify_chain(scope.tenant_id)
    trail = report.companions[TRAIL]
    projections = verify_projections(scope.tenant_id) if filters.projections else None
    return {
        "ok": report.ok and (projections is None or projections.ok),
        "projections": projections and asdict(projections),
        "events_checked": report.events_checked,
        "head_hash": report.head_hash,
        "checkpoint": report.checkpoint,
        "first_broken": report.first_broken,
        "audit_trail": {
            "ok": trail.ok,
            "records_checked": trail.events_checked,
            "head_hash": trail.head_hash,
            "checkpoint": trail.checkpoint,
            "first_broken": trail.first_broken and _as_record(trail.first_broken),
        },
    }


def _as_record(broken: dict[str, Any]) -> dict[str, Any]:
    return {
        "position": broken["position"],
        "record_id": broken["event_id"],
        "reason": broken["reason"],
    }


@router.get("/checkpoints/", response={200: CheckpointPageOut, **ERRORS})
def audit_checkpoints(
    request: HttpRequest, filters: Query[CheckpointListFilters]
) -> dict[str, Any]:
    """The tenant's signed chain checkpoints, highest position first (contract §18)."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    scope.require("audit.verify")
    page = checkpoint_page(scope.tenant_id, limit=filters.limit, offset=filters.offset)
    return {
        "items": [checkpoint.as_document() for checkpoint in page],
        "count": checkpoint_count(scope.tenant_id),
    }
