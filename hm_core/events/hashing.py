"""The canonical encoding and SHA-256 chain link of an event.

The hash covers every envelope field and the payload, encoded as sorted, compact JSON with
datetimes in one fixed UTC format, so it recomputes identically from either engine's rows.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from hm_core.common.time import isoformat

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def event_hash(**fields: Any) -> str:
    """SHA-256 over the canonical encoding of one event linked to the previous hash (the
    fields of `hashed_json`)."""
    return hash_of(hashed_json(**fields))


def hash_of(document: str) -> str:
    """The hash of an event's canonical JSON (`hashed_json`)."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def hashed_json(
    *,
    event_id: uuid.UUID,
    tenant_id: uuid.UUID,
    facility_id: uuid.UUID,
    stream_type: str,
    stream_id: uuid.UUID,
    stream_version: int,
    position: int,
    type: str,
    schema_version: int,
    payload: dict[str, Any],
    metadata: dict[str, Any],
    actor_id: uuid.UUID | None,
    actor_username: str,
    request_id: str,
    correlation_id: uuid.UUID | None,
    causation_id: uuid.UUID | None,
    occurred_at: datetime,
    recorded_at: datetime,
    prev_hash: str,
) -> str:
    """The canonical JSON of one event that its hash is taken of."""
    document = {
        "id": str(event_id),
        "tenant_id": str(tenant_id),
        "facility_id": str(facility_id),
        "stream_type": stream_type,
        "stream_id": str(stream_id),
        "stream_version": stream_version,
        "position": position,
        "type": type,
        "schema_version": schema_version,
        "payload": payload,
        "metadata": metadata,
        "actor_id": _str(actor_id),
        "actor_username": actor_username,
        "request_id": request_id,
        "correlation_id": _str(correlation_id),
        "causation_id": _str(causation_id),
        "occurred_at": isoformat(occurred_at),
        "recorded_at": isoformat(recorded_at),
        "prev_hash": prev_hash,
    }
    return canonical_json(document)


HASHED_FIELDS = (
    "id",
    "tenant_id",
    "facility_id",
    "stream_type",
    "stream_id",
    "stream_version",
    "position",
    "type",
    "schema_version",
    "payload",
    "metadata",
    "actor_id",
    "actor_username",
    "request_id",
    "correlation_id",
    "causation_id",
    "occurred_at",
    "recorded_at",
    "prev_hash",
)


def row_hash(row: dict[str, Any]) -> str:
    """Recompute the hash of a stored row given as a dict of `HASHED_FIELDS`."""
    fields = dict(row)
    fields["event_id"] = fields.pop("id")
    return event_hash(**fields)
