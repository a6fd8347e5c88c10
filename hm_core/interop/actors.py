"""dramatiq actor that sends one HL7 channel's outbound queue."""

from __future__ import annotations

import uuid

import dramatiq

from hm_core.interop.outbound.sender import outbound_drain_channel

QUEUE = "hm_interop"


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def send_outbound(channel_id: str) -> None:
    """Send the channel's due messages in order; retries are scheduled in the database (the
    message's `next_attempt_at`), not in the broker, and re-kicked by the reconciler."""
    outbound_drain_channel(uuid.UUID(channel_id))
