"""Idempotency-Key handling (contract §1).

Flow: the middleware opens one transaction around the whole request. After authentication and
scope resolution, `idempotency_claim` takes the key's lock (a second request with the key while
the first runs gets 409), then inserts a claim row or answers from a finished claim. Once the
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
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse

from hm_core.common.crypto import decrypt_bytes, encrypt_bytes
from hm_core.common.errors import Conflict, HmError, ValidationFailed
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.idempotency.models import IdempotentRequest

_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
REPLAYED_HEADERS = ("ETag", "Location")


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
    if not _lock_key(lookup):
        raise IdempotencyKeyInUse()
    existing = _live_claim(lookup)
    if existing is None:
        existing = _insert_claim(request, lookup, fingerprint)
        if existing is None:
            request.idempotency_claim = lookup  # type: ignore[attr-defined]
            return
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if existing.completed_at is None:
        raise IdempotencyKeyInUse()
    raise IdempotentReplay(existing)


def _lock_key(lookup: dict[str, Any]) -> bool:
    """Hold the key until the request's transaction ends; False if another request holds it.

    PostgreSQL: a transaction-scoped advisory lock, so the loser answers 409 at once instead of
    queueing behind the winner's unique-index entry. SQLite: `BEGIN IMMEDIATE` already
    serialises writing transactions, so a second request waits and then replays.
    """
    if connection.vendor != "postgresql":
        return True
    material = f"{lookup['tenant_id']}:{lookup['user_id']}:{lookup['key']}".encode()
    lock_id = int.from_bytes(hashlib.sha256(material).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id])
        return bool(cursor.fetchone()[0])


def _live_claim(lookup: dict[str, Any]) -> IdempotentRequest | None:
    """The key's claim unless it expired; an unfinished claim is never taken over (its
    command may have committed) and answers 409 until it expires."""
    record = IdempotentRequest.objects.filter(**lookup).first()
    if record is None:
        return None
    if record.created_at < utcnow() - settings.HM_IDEMPOTENCY_TTL:
        IdempotentRequest.objects.filter(pk=record.pk).delete()
        return None
    return record


def _insert_claim(
    request: HttpRequest, lookup: dict[str, Any], fingerprint: str
) -> IdempotentRequest | None:
    """Insert our claim; on a lost race return the winner's row instead."""
    try:
        with transaction.atomic():
            IdempotentRequest.objects.create(
                **lookup,
                method=request.method or "POST",
                path=request.path[:500],
                fingerprint=fingerprint,
                created_at=utcnow(),
            )
    except IntegrityError:
        winner = IdempotentRequest.objects.filter(**lookup).first()
        if winner is None:  # the winner failed with a 5xx and released its claim just now
            raise IdempotencyKeyInUse() from None
        return winner
    return None


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
