"""What each inbound message does (contract §11's table): one handler per message type.

A handler reads the parsed message and calls the same services as the REST API, with the
interface's scope (the channel's tenant and facility, the interface principal, the message log
id as `causation_id`). It returns nothing on success; it raises `Hl7Error` (with a table-0357
code and a location) for what the message itself gets wrong, or lets a service's `HmError`
through, which the pipeline maps to an `AE`. Either way the pipeline rolls everything back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hm_core.common.scope import Scope
from hm_core.interop.hl7.message import Hl7Message


@dataclass(frozen=True)
class Inbound:
    """One inbound message being applied, and who applies it."""

    message: Hl7Message
    scope: Scope


Handler = Callable[[Inbound], None]


def handlers() -> dict[tuple[str, str], Handler]:
    """(MSH-9.1, MSH-9.2) → handler; the table the pipeline dispatches on."""
    from hm_core.interop.mapping import adt, orders, results

    return {
        ("ADT", "A01"): adt.admit,
        ("ADT", "A04"): adt.admit,
        ("ADT", "A08"): adt.update_patient,
        ("ADT", "A11"): adt.cancel_admit,
        ("ORM", "O01"): orders.order_message,
        ("OML", "O21"): orders.order_message,
        ("ORU", "R01"): results.result_message,
    }


SUPPORTED_MESSAGE_CODES = frozenset({"ADT", "ORM", "OML", "ORU"})
