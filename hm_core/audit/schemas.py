"""Audit schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema

from hm_core.common.schemas import PageParams


class AuditListFilters(PageParams):
    patient: uuid.UUID | None = None
    actor: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRecordOut(Schema):
    id: uuid.UUID
    kind: str
    action: str
    event_id: uuid.UUID | None
    position: int | None
    patient_id: uuid.UUID | None
    facility_id: uuid.UUID
    actor_id: uuid.UUID | None
    actor_username: str
    request_id: str
    ip: str
    user_agent: str
    occurred_at: datetime
    detail: dict[str, Any]


class AuditPageOut(Schema):
    items: list[AuditRecordOut]
    count: int


class BrokenLinkOut(Schema):
    position: int
    event_id: uuid.UUID | None
    reason: str


class CheckpointCheckOut(Schema):
    position: int
    ok: bool


class BrokenTrailLinkOut(Schema):
    position: int = Field(description="The link's place in the tenant's audit trail (seq).")
    record_id: uuid.UUID | None
    reason: str


class TrailVerifyOut(Schema):
    """The tenant's audit trail (PHI reads included), sealed into its own hash chain."""

    ok: bool
    records_checked: int
    head_hash: str
    checkpoint: CheckpointCheckOut | None
    first_broken: BrokenTrailLinkOut | None = None


class ProjectionDiffOut(Schema):
    table: str
    pk: str
    difference: str = Field(
        description="missing (the events make the row, the live table lacks it), unexpected "
        "(a live row the events do not make) or changed"
    )
    fields: list[str] = Field(description="The columns that differ, for a changed row.")


class ProjectionsVerifyOut(Schema):
    """The tenant's read models rebuilt from its events into scratch tables and compared with
    the live ones (`?projections=true`; `verify_projections` from the command line)."""

    ok: bool
    tables_checked: int
    rows_checked: int
    events_replayed: int
    differences_total: int
    differences: list[ProjectionDiffOut] = Field(description="The first 100 differing rows.")


class ChainVerifyFilters(Schema):
    projections: bool = Field(
        default=False,
        description="Also rebuild the tenant's read models aside and report every live row "
        "that differs (costs a replay of the tenant's events).",
    )


class ChainVerifyOut(Schema):
    ok: bool = Field(
        description="The event chain and the audit trail hold (and the read "
        "models, when asked for)."
    )
    events_checked: int
    head_hash: str
    checkpoint: CheckpointCheckOut | None
    first_broken: BrokenLinkOut | None = None
    audit_trail: TrailVerifyOut
    projections: ProjectionsVerifyOut | None = None


class CheckpointListFilters(PageParams):
    pass


class CheckpointOut(Schema):
    """One signed checkpoint as written to CHAIN_CHECKPOINT_DIR (contract §18)."""

    tenant_id: uuid.UUID
    position: int
    head_hash: str
    # Verbatim as signed (ISO 8601 UTC): re-rendering it would break the signature.
    signed_at: str
    signature: str
    public_key: str


class CheckpointPageOut(Schema):
    items: list[CheckpointOut]
    count: int
