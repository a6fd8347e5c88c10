"""Recompute a tenant's hash chain and report the first broken link.

Checks, in position order: positions are gapless from 1, each `prev_hash` is the previous
row's `hash`, each `hash` recomputes from the row, and the tenant head matches the last row
(so a removed tail is caught too). Then the chain is held against the tenant's latest signed
checkpoint (`checkpoints.py`, kept outside the database): a trusted signature, and the event at
its position bearing its hash. That catches what a consistent rewrite escapes: a chain rebuilt
from a changed row onwards, or a tail cut off with the head fixed up.

Other chained logs of the tenant (the audit trail, PHI reads included: `hm_core.audit.trail`)
register a verifier with `also_verify`; `verify_chain` runs them too and is ok only when every
one is. `verify_log` is the shared skeleton: walk a log, then hold it against its checkpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hm_core.events.checkpoints import Checkpoint, CheckpointError, latest_checkpoint
from hm_core.events.hashing import GENESIS_HASH, HASHED_FIELDS, row_hash
from hm_core.events.models import Event, TenantEventHead


@dataclass
class ChainReport:
    tenant_id: uuid.UUID
    ok: bool = True
    events_checked: int = 0
    head_hash: str = GENESIS_HASH
    first_broken: dict[str, Any] | None = field(default=None)
    # {position, ok} of the latest signed checkpoint; None when the tenant has none yet.
    checkpoint: dict[str, Any] | None = field(default=None)
    # Reports of the tenant's other chained logs, by name (`also_verify`).
    companions: dict[str, ChainReport] = field(default_factory=dict)

    def broken(self, position: int, event_id: str | None, reason: str) -> ChainReport:
        self.ok = False
        self.first_broken = {"position": position, "event_id": event_id, "reason": reason}
        return self


# (report, position to pin or None) -> the row at that position ({id, hash}) if the walk got there
Walk = Callable[[ChainReport, int | None], dict[str, Any] | None]

_companions: dict[str, Callable[[uuid.UUID], ChainReport]] = {}


def also_verify(name: str, verify: Callable[[uuid.UUID], ChainReport]) -> None:
    """Have `verify_chain` verify another chained log of the tenant (from an apps.py ready())."""
    _companions[name] = verify


def verify_chain(tenant_id: uuid.UUID, *, chunk_size: int = 5000) -> ChainReport:
    """Walk the tenant's events once, recomputing every link, then check the latest checkpoint;
    then the tenant's other chained logs. Ok only when all of them hold."""
    report = verify_log(tenant_id, walk=lambda r, pin: _walk(r, chunk_size=chunk_size, pin=pin))
    for name, verify in _companions.items():
        companion = verify(tenant_id)
        report.companions[name] = companion
        report.ok = report.ok and companion.ok
    return report


def verify_log(tenant_id: uuid.UUID, *, walk: Walk, log: str | None = None) -> ChainReport:
    """Walk one chained log of the tenant with `walk`, then hold it against the latest signed
    checkpoint of that log (`log`: None for the events)."""
    report = ChainReport(tenant_id=tenant_id)
    try:
        checkpoint: Checkpoint | None = latest_checkpoint(tenant_id, log)
    except CheckpointError as exc:
        report.checkpoint = {"position": exc.position, "ok": False}
        walk(report, None)
        return report if not report.ok else report.broken(exc.position, None, str(exc))
    pinned = walk(report, checkpoint.position if checkpoint else None)
    if checkpoint is not None:
        check_checkpoint(report, checkpoint, pinned)
    return report


def _walk(report: ChainReport, *, chunk_size: int, pin: int | None) -> dict[str, Any] | None:
    """Verify the links into `report`; return the row at position `pin` if the walk got there."""
    rows = (
        Event.objects.filter(tenant_id=report.tenant_id)
        .order_by("position")
        .values(*HASHED_FIELDS, "hash")
        .iterator(chunk_size=chunk_size)
    )
    previous = GENESIS_HASH
    pinned = None
    for expected_position, row in enumerate(rows, start=1):
        event_id = str(row["id"])
        if row["position"] != expected_position:
            report.broken(expected_position, event_id, "position gap")
            return pinned
        if row["prev_hash"] != previous:
            report.broken(row["position"], event_id, "prev_hash does not link")
            return pinned
        stored = row.pop("hash")
        if row_hash(row) != stored:
            report.broken(row["position"], event_id, "hash does not match content")
            return pinned
        previous = stored
        report.events_checked = expected_position
        report.head_hash = stored
        if expected_position == pin:
            pinned = {"id": event_id, "hash": stored}
    _check_head(report)
    return pinned


def _check_head(report: ChainReport) -> ChainReport:
    head = TenantEventHead.objects.filter(tenant_id=report.tenant_id).first()
    if head is None:
        return report if report.events_checked == 0 else report.broken(1, None, "head missing")
    if head.position != report.events_checked or head.hash != report.head_hash:
        return report.broken(head.position, None, "head does not match the last event")
    return report


def check_checkpoint(
    report: ChainReport, checkpoint: Checkpoint, pinned: dict[str, Any] | None
) -> None:
    """The checkpoint holds when its signature is trusted and the verified chain reaches its
    position with its hash there. A chain broken below the checkpoint cannot confirm it."""
    reason = None
    if not checkpoint.signature_ok(report.tenant_id):
        reason = "checkpoint signature does not verify"
    elif pinned is None and report.ok:
        reason = "chain ends before the signed checkpoint"
    elif pinned is not None and pinned["hash"] != checkpoint.head_hash:
        reason = "hash does not match the signed checkpoint"
    ok = reason is None and pinned is not None
    report.checkpoint = {"position": checkpoint.position, "ok": ok}
    if reason is not None and report.ok:
        report.broken(checkpoint.position, pinned["id"] if pinned else None, reason)
