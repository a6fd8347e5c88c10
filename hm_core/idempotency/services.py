"""Idempotency-Key handling (contract §1).

Flow: the middleware opens one transaction around the whole request. After authentication and
scope resolution, `idempotency_claim` takes the key's lock (a second request with the key while
the first runs gets 409) and finds its claim in one statement, then inserts a claim row (`ON
CONFLICT DO NOTHING`, no savepoint) or answers from a finished claim. Once the
view returns, `idempotency_complete` stores the response on the claim in that same transaction,
so a command that committed always has its response stored and replays; a 5xx rolls the request
back, which releases the key. An unfinished claim is therefore never committed by this code: one
left by an older version is treated as in flight until it expires, never taken over, because its
command may have committed.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse

from hm_core.common.crypto import decrypt_bytes, encrypt_bytes
from hm_core.common.errors import Conflict, HmError, ValidationFailed
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.events.ops import insert_ignoring_conflicts
from hm_core.idempotency.models import IdempotentRequest

_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
REPLAYED_HEADERS = ("ETag", "Location")
_CLAIM_COLUMNS = ("id", "fingerprint", "created_at", "completed_at")


class IdempotencyKeyReused(HmError):
    status = 422
    default_code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used with another path or body."


class IdempotencyKeyInUse(Conflict):
    default_code = "idempotency_key_in_use"
    default_message = "A request with this Idempotency-Key is still being processed."


class IdempotentReplay(Exception):
    """Raised by the claim when a stored response answers the request instead of the view."""

    def __init__(self, record: IdempotentRequest) -> None:
        super().__init__(record.key)
        self.record = record


def idempotency_requested(request: HttpRequest) -> bool:
    """A POST sent with an `Idempotency-Key`: the middleware runs it in one transaction."""
    return request.method == "POST" and "Idempotency-Key" in request.headers


def idempotency_claim(request: HttpRequest, *, scope: Scope) -> None:
    """Claim the request's key, or raise: replay, reused (422) or in flight (409)."""
    key = request.headers.get("Idempotency-Key")
    if not idempotency_requested(request) or key is None or scope.principal.user_id is None:
        return
    if not _KEY.match(key):
        raise ValidationFailed.field("Idempotency-Key", "must be 1-255 printable ASCII characters")
    if not connection.in_atomic_block:
        raise RuntimeError("an idempotent request must run inside IdempotencyMiddleware")
    fingerprint = request_fingerprint(request)
    lookup = {"tenant_id": scope.tenant_id, "user_id": scope.principal.user_id, "key": key}
    existing = _lock_and_find(lookup)
    if existing is not None and existing.created_at < utcnow() - settings.HM_IDEMPOTENCY_TTL:
        IdempotentRequest.objects.filter(pk=existing.id).delete()  # expired: start afresh
        existing = None
    if existing is None:
        existing = _insert_claim(request, lookup, fingerprint)
        if existing is None:
            request.idempotency_claim = lookup  # type: ignore[attr-defined]
            return
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if existing.completed_at is None:  # never taken over: its command may have committed
        raise IdempotencyKeyInUse()
    raise IdempotentReplay(IdempotentRequest.objects.get(pk=existing.id))


@dataclass(frozen=True)
class _Claim:
    """What deciding about a found claim needs; the stored response is read only to replay."""

    id: uuid.UUID
    fingerprint: str
    created_at: datetime
    completed_at: datetime | None


def _lock_and_find(lookup: dict[str, Any]) -> _Claim | None:
    """Hold the key until the request's transaction ends and return its claim, if any; 409 if
    another request holds the key.

    PostgreSQL: a transaction-scoped advisory lock, so the loser answers 409 at once instead of
    queueing behind the winner's unique-index entry; taken and looked up in one statement. Its
    snapshot predates the lock, so a winner that committed in between is missed here and met
    by the INSERT's conflict instead. SQLite: `BEGIN IMMEDIATE` already serialises writing
    transactions, so a second request waits and then replays.
    """
    if connection.vendor != "postgresql":
        row = IdempotentRequest.objects.filter(**lookup).values_list(*_CLAIM_COLUMNS).first()
        return _Claim(*row) if row is not None else None
    material = f"{lookup['tenant_id']}:{lookup['user_id']}:{lookup['key']}".encode()
    lock_id = int.from_bytes(hashlib.sha256(material).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(%s) AS held) "  # noqa: S608 - names
            f"SELECT lock.held, {', '.join(f'claim.{c}' for c in _CLAIM_COLUMNS)} FROM lock "
            f"LEFT JOIN {IdempotentRequest._meta.db_table} claim ON lock.held "
            "AND claim.tenant_id = %s AND claim.user_id = %s AND claim.key = %s",
            [lock_id, lookup["tenant_id"], lookup["user_id"], lookup["key"]],
        )
        held, *row = cursor.fetchone()
    if not held:
        raise IdempotencyKeyInUse()
    return _Claim(*row) if row[0] is not None else None


def _insert_claim(request: HttpRequest, lookup: dict[str, Any], fingerprint: str) -> _Claim | None:
    """Insert our claim (`ON CONFLICT DO NOTHING`: no savepoint); on a lost race return the
    winner's claim instead."""
    claim = IdempotentRequest(
        **lookup,
        method=request.method or "POST",
        path=request.path[:500],
        fingerprint=fingerprint,
        created_at=utcnow(),
    )
    if insert_ignoring_conflicts(IdempotentRequest, [claim]):
        return None
    winner = IdempotentRequest.objects.filter(**lookup).values_list(*_CLAIM_COLUMNS).first()
    if winner is None:  # the winner failed with a 5xx and released its claim just now
        raise IdempotencyKeyInUse()
    return _Claim(*winner)


def request_fingerprint(request: HttpRequest) -> str:
    """SHA-256 over method, path and body; JSON bodies compare by content, not by spacing."""
    body: Any = request.body
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):  # not JSON (or absurdly nested): compare the bytes
        body = body.hex()
    material = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def idempotency_complete(request: HttpRequest, response: HttpResponse) -> None:
    """Store the final response on the request's claim, in the request's transaction; on a
    server error roll the whole request back, which releases the claim."""
    lookup = getattr(request, "idempotency_claim", None)
    if lookup is None:
        return
    if response.status_code >= 500 or transaction.get_connection().needs_rollback:
        transaction.set_rollback(True)
        return
    IdempotentRequest.objects.filter(**lookup, completed_at__isnull=True).update(
        completed_at=utcnow(),
        status_code=response.status_code,
        # Encrypted: a replayable answer may hold a patient's phone or address (contract §18).
        response_body=encrypt_bytes(bytes(response.content)),
        content_type=response.get("Content-Type", "application/json"),
        headers={h: response[h] for h in REPLAYED_HEADERS if h in response},
    )


def replay_response(record: IdempotentRequest) -> HttpResponse:
    """The stored response, marked as replayed."""
    response = HttpResponse(
        decrypt_bytes(bytes(record.response_body or b"")),
        status=record.status_code or 200,
        content_type=record.content_type or "application/json",
    )
    for header, value in (record.headers or {}).items():
        response[header] = value
    response["Idempotent-Replayed"] = "true"
    return response
