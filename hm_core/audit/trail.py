"""The audit trail's own hash chain: audit records, PHI reads included, sealed after the fact.

Records are append-only in the database (trigger, no UPDATE/DELETE/TRUNCATE grant to
`DB_APP_ROLE`), which stops the application's role; whoever administers the database can still
edit or delete one. So each tenant's records are also chained: a link per record, in
`AuditTrailLink`, gapless `seq` from 1, `hash` = SHA-256 over the record's fields, its `seq` and
the previous link's hash; the head is in `AuditTrailHead`; and the head is signed into a
checkpoint outside the database (`<tenant>/audit-trail/` beside the events' checkpoints) each
time the events are checkpointed (`checkpoint_chain`, the reconcilers' periodic pass).

Why sealed later instead of chained at insert: chaining on insert would put the tenant's lock
on every read of patient data (reads outnumber writes, and the read path is one INSERT today);
sealing costs the read path nothing. The sealer takes records not linked yet, in `occurred_at`
order, starting `SEAL_LAG` before the latest record it sealed, so a read whose transaction
committed late is still picked up. The price: a record is protected by the chain only from the
next checkpoint on (as events are protected by a signature only from theirs).

`verify` (run by `verify_chain`, hence `verify_event_chain` and `/api/audit/verify/`) walks the
links: a gap (a link removed), a link to nothing (a record deleted), a hash that does not
recompute (a record or a link edited), a head that is not the last link (a tail cut) — and the
latest signed checkpoint catches a chain rewritten consistently from an edited record onwards.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef

from hm_core.audit.models import AuditRecord, AuditTrailHead, AuditTrailLink
from hm_core.common.time import isoformat
from hm_core.events.chain import ChainReport, verify_log
from hm_core.events.checkpoints import Checkpoint, sign_head
from hm_core.events.hashing import GENESIS_HASH, canonical_json

LOG = "audit-trail"
SEAL_LAG = timedelta(minutes=10)  # longer than any transaction that writes an audit record
BATCH = 2000
HASHED_FIELDS = (
    "id",
    "tenant_id",
    "facility_id",
    "kind",
    "action",
    "event_id",
    "position",
    "patient_id",
    "actor_id",
    "actor_username",
    "request_id",
    "ip",
    "user_agent",
    "occurred_at",
    "detail",
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return isoformat(value)
    return value


def link_hash(record: dict[str, Any], *, seq: int, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the record's fields, its place and the previous link."""
    document = {name: _plain(record[name]) for name in HASHED_FIELDS}
    document |= {"seq": seq, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def seal(tenant_id: uuid.UUID) -> int:
    """Chain the tenant's audit records that are not linked yet; returns how many were."""
    sealed = 0
    while True:
        with transaction.atomic():
            count = _seal_batch(tenant_id)
        sealed += count
        if count < BATCH:
            return sealed


def _seal_batch(tenant_id: uuid.UUID) -> int:
    AuditTrailHead.objects.bulk_create(
        [AuditTrailHead(tenant_id=tenant_id, hash=GENESIS_HASH)], ignore_conflicts=True
    )
    head = AuditTrailHead.objects.select_for_update().get(tenant_id=tenant_id)  # one sealer
    pending = AuditRecord.all_tenants.filter(tenant_id=tenant_id).filter(
        ~Exists(AuditTrailLink.objects.filter(record_id=OuterRef("id")))
    )
    if head.sealed_through is not None:
        pending = pending.filter(occurred_at__gte=head.sealed_through - SEAL_LAG)
    rows = list(pending.order_by("occurred_at", "id").values(*HASHED_FIELDS)[:BATCH])
    if not rows:
        return 0
    seq, prev = head.seq, head.hash
    links = []
    for row in rows:
        seq += 1
        prev = link_hash(row, seq=seq, prev_hash=prev)
        links.append(AuditTrailLink(tenant_id=tenant_id, seq=seq, record_id=row["id"], hash=prev))
    AuditTrailLink.objects.bulk_create(links)
    latest = max(row["occurred_at"] for row in rows)
    AuditTrailHead.objects.filter(tenant_id=tenant_id).update(
        seq=seq, hash=prev, sealed_through=max(latest, head.sealed_through or latest)
    )
    return len(links)


def checkpoint(tenant_id: uuid.UUID) -> Checkpoint | None:
    """Seal the tenant's new records and sign the trail's head (None: nothing sealed yet)."""
    seal(tenant_id)
    head = AuditTrailHead.objects.filter(tenant_id=tenant_id).first()
    if head is None or head.seq == 0:
        return None
    return sign_head(tenant_id, position=head.seq, head_hash=head.hash, log=LOG)


def verify(tenant_id: uuid.UUID, *, chunk_size: int = 5000) -> ChainReport:
    """Walk the tenant's audit-trail links, then hold them against the trail's checkpoint."""
    return verify_log(
        tenant_id, walk=lambda r, pin: _walk(r, chunk_size=chunk_size, pin=pin), log=LOG
    )


def _walk(report: ChainReport, *, chunk_size: int, pin: int | None) -> dict[str, Any] | None:
    rows = (
        AuditTrailLink.objects.filter(tenant_id=report.tenant_id)
        .order_by("seq")
        .values("seq", "hash", "record_id", *(f"record__{name}" for name in HASHED_FIELDS))
        .iterator(chunk_size=chunk_size)
    )
    previous = GENESIS_HASH
    pinned = None
    for expected_seq, row in enumerate(rows, start=1):
        record_id = str(row["record_id"])
        if row["seq"] != expected_seq:
            report.broken(expected_seq, record_id, "audit trail link missing (sequence gap)")
            return pinned
        if row["record__kind"] is None:  # (`record__id` is the link's own column: no join)
            report.broken(expected_seq, record_id, "audit record deleted")
            return pinned
        record = {name: row[f"record__{name}"] for name in HASHED_FIELDS}
        if link_hash(record, seq=expected_seq, prev_hash=previous) != row["hash"]:
            report.broken(expected_seq, record_id, "audit record or link edited")
            return pinned
        previous = row["hash"]
        report.events_checked = expected_seq
        report.head_hash = previous
        if expected_seq == pin:
            pinned = {"id": record_id, "hash": previous}
    _check_head(report)
    return pinned


def _check_head(report: ChainReport) -> None:
    head = AuditTrailHead.objects.filter(tenant_id=report.tenant_id).first()
    seq, hash_ = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if seq != report.events_checked or (seq and hash_ != report.head_hash):
        report.broken(seq or 1, None, "audit trail head does not match the last link")
