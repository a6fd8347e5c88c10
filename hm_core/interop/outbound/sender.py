"""Sending outbound HL7: each channel's queue, in order, over MLLP, waiting for each ACK.

Head of line: the channel's oldest PENDING message (by source position) goes first; while it
waits for its retry the later ones wait too (a receiver applying results out of order could
overwrite a correction with the original); a DEAD message no longer blocks.

No transaction or row lock is held across the network: a worker claims the head row by locking
it briefly and moving `next_attempt_at` to a lease (every other worker then sees the head as not
due), commits, sends, and records the outcome in a new transaction only if it still holds the
lease. Retries resend the same bytes and MSH-10, so a receiver that applied a message whose ACK
was lost recognises the resend as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import hl7
from django.conf import settings
from django.db import close_old_connections, models, transaction
from hl7.mllp import InvalidBlockError, open_hl7_connection

from hm_core.common.time import utcnow
from hm_core.events.broker import uses_workers
from hm_core.events.reconciler import resender
from hm_core.interop.hl7.message import decode, field
from hm_core.interop.models import Channel, Message

logger = logging.getLogger(__name__)

# A claim outlives the longest exchange (connect + send + ACK, bounded by the timeout) by this.
LEASE_MARGIN = timedelta(seconds=30)
ACCEPTED_CODES = ("AA", "CA")


@dataclass(frozen=True)
class _Claim:
    message_id: uuid.UUID
    lease: datetime
    raw: bytes
    control_id: str
    host: str
    port: int | None


@dataclass(frozen=True)
class _Outcome:
    accepted: bool
    error: str = ""
    ack: str = ""


def _queue(channel_id: uuid.UUID) -> models.QuerySet[Message]:
    """The channel's undelivered outbound messages in send order."""
    return Message.objects.filter(
        channel_id=channel_id,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.PENDING,
    ).order_by("source_position", "received_at", "id")


def _claim(channel_id: uuid.UUID) -> _Claim | None:
    """Take the channel's head message if it is due: lock it, move its next attempt to a lease
    (every other worker now sees the head as not due, so nothing behind it goes either), commit."""
    now = utcnow()
    lease = now + timedelta(seconds=settings.HL7_OUTBOUND_TIMEOUT_S) + LEASE_MARGIN
    with transaction.atomic():
        head = _queue(channel_id).only("id", "next_attempt_at").first()
        if head is None or (head.next_attempt_at and head.next_attempt_at > now):
            return None
        locked = Message.objects.select_for_update(skip_locked=True)
        row = locked.filter(id=head.id, status=Message.Status.PENDING).first()
        if row is None or (row.next_attempt_at and row.next_attempt_at > now):
            return None  # another worker claimed it between the two reads
        row.next_attempt_at = lease
        row.save(update_fields=["next_attempt_at"])
    # The sender serves every tenant's channels: the destination is read across tenants.
    channel = Channel.all_tenants.filter(id=channel_id, is_active=True).first()
    host = channel.outbound_host if channel else ""
    port = channel.outbound_port if channel else None
    return _Claim(row.id, lease, bytes(row.raw), row.control_id, host, port)


async def _exchange_frames(host: str, port: int, raw: bytes) -> bytes:
    """One MLLP exchange with python-hl7's asyncio framing (a frame split over reads is fine)."""
    reader, writer = await open_hl7_connection(host, port)
    try:
        writer.writeblock(raw)
        await writer.drain()
        return bytes(await reader.readblock())
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _exchange(claim: _Claim) -> _Outcome:
    """Send and wait for the ACK, at most `HL7_OUTBOUND_TIMEOUT_S` for the whole exchange."""
    if not claim.host or not claim.port:
        return _Outcome(False, "The channel has no outbound destination (or is inactive).")
    timeout = settings.HL7_OUTBOUND_TIMEOUT_S
    try:
        answer = asyncio.run(
            asyncio.wait_for(_exchange_frames(claim.host, claim.port, claim.raw), timeout)
        )
    except TimeoutError:
        return _Outcome(False, f"No ACK within {timeout} s.")
    except (OSError, EOFError, InvalidBlockError, asyncio.LimitOverrunError) as exc:
        return _Outcome(False, f"{type(exc).__name__}: {exc}"[:2000])
    return _verdict(decode(answer), claim.control_id)


def _verdict(ack: str, control_id: str) -> _Outcome:
    """AA/CA for this very message (MSA-2) is delivered; anything else is an attempt failed.
    Read leniently (python-hl7, any version or MSH quirk): only the MSA decides."""
    try:
        parsed = hl7.parse(ack)
        msa = parsed.segment("MSA")
    except (KeyError, IndexError, ValueError, hl7.ParseException):  # no MSA, or not HL7 at all
        return _Outcome(False, "The answer is not an HL7 ACK.", ack)
    code, acked = field(msa, 1).upper(), field(msa, 2)
    if code in ACCEPTED_CODES and acked == control_id:
        return _Outcome(True, "", ack)
    if code in ACCEPTED_CODES:
        return _Outcome(False, f"{code} for another message ({acked}).", ack)
    err = next((s for s in parsed if str(s[0]) == "ERR"), None)
    text = field(msa, 3) or field(err, 8) or field(err, 3, 2)
    return _Outcome(False, f"{code or 'No MSA-1'}: {text}".strip()[:2000], ack)


def _record(claim: _Claim, outcome: _Outcome) -> str | None:
    """Attempt recorded, if the lease is still ours: SENT, or a retry after the doubling
    backoff, or DEAD after `HL7_OUTBOUND_MAX_ATTEMPTS`."""
    now = utcnow()
    with transaction.atomic():
        row = (
            Message.objects.select_for_update()
            .filter(id=claim.message_id, status=Message.Status.PENDING, next_attempt_at=claim.lease)
            .first()
        )
        if row is None:  # the lease ran out and another worker took over, or it was requeued
            return None
        row.attempts += 1
        row.ack, row.error = outcome.ack, outcome.error
        if outcome.accepted:
            row.status, row.processed_at, row.next_attempt_at = Message.Status.SENT, now, None
        elif row.attempts >= settings.HL7_OUTBOUND_MAX_ATTEMPTS:
            row.status, row.next_attempt_at = Message.Status.DEAD, None
        else:
            delay = settings.HL7_OUTBOUND_BACKOFF_S * 2 ** (row.attempts - 1)
            row.next_attempt_at = now + timedelta(seconds=delay)
        row.save()
        return str(row.status)


def outbound_send_next(channel_id: uuid.UUID) -> str | None:
    """Send the channel's head message if it is due; its new status, or None when nothing was
    due (empty queue, head waiting for its retry, or another worker sending it)."""
    claim = _claim(channel_id)
    if claim is None:
        return None
    status = _record(claim, _exchange(claim))
    logger.info(
        "hl7 outbound %s channel %s: %s", claim.control_id, channel_id, status or "lease lost"
    )
    return status


def outbound_drain_channel(channel_id: uuid.UUID, *, limit: int = 100) -> int:
    """Send the channel's queue in order until it is empty or its head must wait; returns how
    many messages left the queue (SENT or DEAD)."""
    done = 0
    while done < limit:
        status = outbound_send_next(channel_id)
        if status not in (Message.Status.SENT, Message.Status.DEAD):
            break
        done += 1
    return done


def outbound_kick(channel_ids: list[uuid.UUID]) -> None:
    """After commit: have each channel's queue sent by the workers, or (embedded mode) by a
    background thread. A lost kick only delays: the reconciler re-kicks due channels."""
    if not channel_ids:
        return
    if uses_workers():
        from hm_core.interop.actors import send_outbound

        for channel_id in channel_ids:
            try:
                send_outbound.send(str(channel_id))
            except Exception:  # the broker is away: the reconciler re-kicks due channels
                logger.warning(
                    "broker unreachable; hl7 channel %s left to the reconciler", channel_id
                )
        return
    threading.Thread(target=_drain_in_thread, args=(list(channel_ids),), daemon=True).start()


def _drain_in_thread(channel_ids: list[uuid.UUID]) -> None:
    try:
        for channel_id in channel_ids:
            outbound_drain_channel(channel_id)
    finally:
        close_old_connections()


def outbound_due_channels(limit: int = 500) -> list[uuid.UUID]:
    """Channels with an outbound message due now (for the reconciler)."""
    rows = Message.objects.filter(
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.PENDING,
        next_attempt_at__lte=utcnow(),
    )
    ids = rows.order_by().values_list("channel_id", flat=True).distinct()[:limit]
    return [channel_id for channel_id in ids if channel_id is not None]


@resender("hl7_outbound")
def outbound_reconcile(grace: timedelta = timedelta(0)) -> int:
    """One reconciler pass: due channels kicked (workers) or drained right here (embedded, where
    a daemon thread could die with a one-shot command); returns how many channels. `grace` is
    not needed: the sender's lease makes a second sender of one channel harmless."""
    due = outbound_due_channels()
    if uses_workers():
        outbound_kick(due)
    else:
        for channel_id in due:
            outbound_drain_channel(channel_id)
    return len(due)


def outbound_requeue(message: Message) -> Message:
    """Send a DEAD outbound message again from its first attempt (same bytes and MSH-10); as the
    oldest PENDING message of its channel it goes before anything queued since."""
    message.status, message.attempts, message.next_attempt_at = Message.Status.PENDING, 0, utcnow()
    message.save(update_fields=["status", "attempts", "next_attempt_at"])
    if message.channel_id is not None:
        channel_id = message.channel_id
        transaction.on_commit(lambda: outbound_kick([channel_id]))
    return message
