"""Outbound HL7 v2 (contract §11): ORM^O01 on LAB orders placed, ORU^R01 on results released."""

from __future__ import annotations

from hm_core.interop.models import Message


def outbound_requeue(message: Message) -> Message:
    """Send a DEAD outbound message again from its first attempt."""
    raise NotImplementedError
