"""Recompute a tenant's hash chain and report the first broken link.

Checks, in position order: positions are gapless from 1, each `prev_hash` is the previous
row's `hash`, each `hash` recomputes from the row, and the tenant head matches the last row
(so a removed tail is caught too).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from hm_core.events.hashing import GENESIS_HASH, HASHED_FIELDS, row_hash
from hm_core.events.models import Event, TenantEventHead


@dataclass
class ChainReport:
    tenant_id: uuid.UUID
    ok: bool = True
    events_checked: int = 0
    head_hash: str = GENESIS_HASH
    first_broken: dict[str, Any] | None = field(default=None)

    def broken(self, position: int, event_id: str | None, reason: str) -> ChainReport:
        self.ok = False
        self.first_broken = {"position": position, "event_id": event_id, "reason": reason}
        return self


def verify_chain(tenant_id: uuid.UUID, *, chunk_size: int = 5000) -> ChainReport:
    """Walk the tenant's events once, recomputing every link."""
    report = ChainReport(tenant_id=tenant_id)
    rows = (
        Event.objects.filter(tenant_id=tenant_id)
        .order_by("position")
        .values(*HASHED_FIELDS, "hash")
        .iterator(chunk_size=chunk_size)
    )
    previous = GENESIS_HASH
    for expected_position, row in enumerate(rows, start=1):
        event_id = str(row["id"])
        if row["position"] != expected_position:
            return report.broken(expected_position, event_id, "position gap")
        if row["prev_hash"] != previous:
            return report.broken(row["position"], event_id, "prev_hash does not link")
        stored = row.pop("hash")
        if row_hash(row) != stored:
            return report.broken(row["position"], event_id, "hash does not match content")
        previous = stored
        report.events_checked = expected_position
        report.head_hash = stored
    return _check_head(report)


def _check_head(report: ChainReport) -> ChainReport:
    head = TenantEventHead.objects.filter(tenant_id=report.tenant_id).first()
    if head is None:
        return report if report.events_checked == 0 else report.broken(1, None, "head missing")
    if head.position != report.events_checked or head.hash != report.head_hash:
        return report.broken(head.position, None, "head does not match the last event")
    return report
