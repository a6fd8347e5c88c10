"""Appending to and reading from the event store.

`append` must run inside the command's transaction. It takes the tenant's append lock (the
head row, `SELECT ... FOR UPDATE`; SQLite serialises writers with BEGIN IMMEDIATE), checks the
stream's version against the caller's expectation (optimistic concurrency: a lost race is 409),
assigns gapless tenant positions and links each event's hash to the previous one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Max

from hm_core.common.errors import ValidationFailed, VersionConflict
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.events.base import DomainEvent, EventMeta, Recorded, StreamRef, event_class
from hm_core.events.hashing import GENESIS_HASH, hash_of, hashed_json
from hm_core.events.models import Event, TenantEventHead
from hm_core.events.ops import insert_ignoring_conflicts
from hm_core.events.unit_of_work import Head, UnitOfWork, unit_of_work


def append(
    *,
    scope: Scope,
    stream: StreamRef,
    expected_version: int | None,
    events: Sequence[DomainEvent],
    occurred_at: datetime | None = None,
) -> list[Recorded]:
    """Append `events` to `stream` at `expected_version` (None: wherever the stream stands).

    The rows are queued in the command's unit of work and inserted when it flushes; a version
    the caller already knows is not read back: the unique (tenant, stream, version) turns a
    lost race into 409 at the flush, before any other write of the command runs.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("append() must run inside the command's transaction")
    with unit_of_work() as uow:
        head = _locked_head(uow, scope.tenant_id)
        current = _version(uow, scope.tenant_id, stream.id, expected_version)
        recorded_at = utcnow()
        rows = []
        for offset, event in enumerate(events, start=1):
            row = _new_row(scope, stream, event, head, current + offset, recorded_at, occurred_at)
            head.position, head.hash = row.position, row.hash
            rows.append(row)
        uow.versions[stream.id] = current + len(rows)
        uow.event_types.update(row.type for row in rows)
        uow.add(EventRows(rows, expected_version=expected_version))
    return [
        Recorded(event=event, meta=meta_of(row)) for event, row in zip(events, rows, strict=True)
    ]


def _locked_head(uow: UnitOfWork, tenant_id: uuid.UUID) -> Head:
    """The tenant's head, locked on the command's first append and then kept in memory."""
    if tenant_id not in uow.heads:
        with uow.internal():
            row = _lock_head(tenant_id)
        uow.heads[tenant_id] = Head(row.position, row.hash, start=row.position)
    return uow.heads[tenant_id]


def _version(
    uow: UnitOfWork, tenant_id: uuid.UUID, stream_id: uuid.UUID, expected: int | None
) -> int:
    """The stream's version: known to this command, trusted from the caller, or read."""
    known = uow.versions.get(stream_id)
    if known is not None and expected is not None and known != expected:
        raise VersionConflict(details={"expected_version": expected, "current": known})
    if known is not None:
        return known
    if expected is not None:
        return expected
    with uow.internal():
        return stream_version(tenant_id, stream_id)


class EventRows:
    """The command's event rows: one INSERT that skips duplicates, so a stale version is a
    counted miss (409) rather than an error that aborts the transaction."""

    table = Event._meta.db_table

    def __init__(self, rows: list[Event], *, expected_version: int | None) -> None:
        self.rows = rows
        self.expected = {rows[0].stream_id: expected_version} if rows else {}

    def merge(self, other: Any) -> bool:
        if not isinstance(other, EventRows):
            return False
        self.rows.extend(other.rows)
        for stream_id, expected in other.expected.items():
            self.expected.setdefault(stream_id, expected)
        return True

    def run(self) -> None:
        inserted = insert_ignoring_conflicts(Event, self.rows)
        if inserted == len(self.rows):
            return
        expected, current = self._conflicting()
        if inserted:  # a partial chain must never commit: nothing after this may succeed
            transaction.set_rollback(True)
        raise VersionConflict(details={"expected_version": expected, "current": current})

    def _conflicting(self) -> tuple[int | None, int]:
        """The stream whose rows were refused (read only after a conflict)."""
        tenant_id = self.rows[0].tenant_id
        ids = [row.id for row in self.rows]
        stored = set(Event.objects.filter(tenant_id=tenant_id, id__in=ids).values_list("id"))
        refused = next(row for row in self.rows if (row.id,) not in stored)
        expected = self.expected.get(refused.stream_id)
        return expected, stream_version(tenant_id, refused.stream_id)


def _lock_head(tenant_id: uuid.UUID) -> TenantEventHead:
    """Lock the tenant's head row, creating it on the tenant's first event."""
    head = TenantEventHead.objects.select_for_update().filter(tenant_id=tenant_id).first()
    if head is None:
        TenantEventHead.objects.bulk_create(
            [TenantEventHead(tenant_id=tenant_id, position=0, hash=GENESIS_HASH)],
            ignore_conflicts=True,
        )
        head = TenantEventHead.objects.select_for_update().get(tenant_id=tenant_id)
    return head


def stream_version(tenant_id: uuid.UUID, stream_id: uuid.UUID) -> int:
    """The version of the last event on a stream (0 for a stream with none)."""
    found = Event.objects.filter(tenant_id=tenant_id, stream_id=stream_id).aggregate(
        v=Max("stream_version")
    )["v"]
    return int(found or 0)


def _new_row(
    scope: Scope,
    stream: StreamRef,
    event: DomainEvent,
    head: Head,
    version: int,
    recorded_at: datetime,
    occurred_at: datetime | None,
) -> Event:
    payload = event.to_payload()
    ctx = scope.context
    metadata = {
        key: value
        for key, value in (
            ("ip", ctx.ip),
            ("user_agent", ctx.user_agent),
            ("idempotency_key", ctx.idempotency_key),
        )
        if value
    }
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "tenant_id": scope.tenant_id,
        "facility_id": scope.facility_id,
        "stream_type": stream.type,
        "stream_id": stream.id,
        "stream_version": version,
        "position": head.position + 1,
        "type": event.event_type,
        "schema_version": event.schema_version,
        "payload": payload,
        "metadata": metadata,
        "actor_id": scope.principal.user_id,
        "actor_username": scope.principal.username,
        "request_id": ctx.request_id or "",
        "correlation_id": ctx.correlation_id,
        "causation_id": ctx.causation_id,
        "occurred_at": occurred_at or recorded_at,
        "recorded_at": recorded_at,
        "prev_hash": head.hash,
    }
    document = hashed_json(**fields)
    if "\\u0000" in document:
        # PostgreSQL's jsonb cannot store NUL characters; refuse them on both engines alike
        # (checked on the JSON the hash is taken of: the payload is encoded once).
        raise ValidationFailed("Text may not contain NUL characters.")
    digest = hash_of(document)
    fields["id"] = fields.pop("event_id")
    return Event(**fields, hash=digest)


def meta_of(row: Event, *, replaying: bool = False) -> EventMeta:
    """The envelope subscribers see for a stored row."""
    return EventMeta(
        event_id=row.id,
        tenant_id=row.tenant_id,
        facility_id=row.facility_id,
        stream=StreamRef(row.stream_type, row.stream_id),
        stream_version=row.stream_version,
        position=row.position,
        event_type=row.type,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        actor_id=row.actor_id,
        actor_username=row.actor_username,
        request_id=row.request_id or None,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        ip=row.metadata.get("ip"),
        user_agent=row.metadata.get("user_agent"),
        replaying=replaying,
    )


def load(row: Event, *, replaying: bool = False) -> Recorded:
    """Rebuild the typed event and its envelope from a stored row (upcasting old versions)."""
    cls = event_class(row.type)
    return Recorded(
        event=cls.from_payload(row.payload, row.schema_version),
        meta=meta_of(row, replaying=replaying),
    )


def read_stream(tenant_id: uuid.UUID, stream_id: uuid.UUID) -> list[Recorded]:
    """Every event of one stream, oldest first."""
    rows = Event.objects.filter(tenant_id=tenant_id, stream_id=stream_id).order_by("stream_version")
    return [load(row) for row in rows]


def read_all(
    *, tenant_id: uuid.UUID | None = None, after: int = 0, chunk_size: int = 2000
) -> Iterator[Event]:
    """Stored rows in position order (per tenant), streamed in chunks for replays."""
    rows = Event.objects.all()
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id, position__gt=after)
    return rows.order_by("tenant_id", "position").iterator(chunk_size=chunk_size)
