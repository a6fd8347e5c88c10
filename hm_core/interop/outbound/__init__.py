"""Outbound HL7 v2 (contract §11): ORM^O01 on LAB orders placed, ORU^R01 on results released.

Two halves joined by the message log, which is the outbox: `queue` (the `hl7_outbound` async
subscriber writes one PENDING outbound message per channel that asks for the event) and
`sender` (delivers each channel's queue over MLLP in order, with retries, backoff and DEAD).
"""

from hm_core.interop.outbound.queue import consent_permits_sharing, outbound_queue_when_event
from hm_core.interop.outbound.sender import (
    outbound_drain_channel,
    outbound_due_channels,
    outbound_kick,
    outbound_reconcile,
    outbound_requeue,
    outbound_send_next,
)

__all__ = [
    "consent_permits_sharing",
    "outbound_drain_channel",
    "outbound_due_channels",
    "outbound_kick",
    "outbound_queue_when_event",
    "outbound_reconcile",
    "outbound_requeue",
    "outbound_send_next",
]
