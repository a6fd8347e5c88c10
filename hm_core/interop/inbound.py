"""Inbound HL7 v2: store, then ACK (contract §11), the same for MLLP and HTTP.

1. Parse (python-hl7). What is not a usable message is answered `AR` and kept as `REJECTED`.
2. Route: MLLP finds the channel by MSH-3 + MSH-4 (an unknown sender is `AR`); HTTP takes the
   scope from the request's headers.
3. A control id this sender already used gets the first ACK again and a `DUPLICATE` row.
4. Apply: in ONE transaction the log row (status ACCEPTED, the AA it will answer) is inserted
   first — its unique index makes a concurrent duplicate wait for this commit — then the
   handler runs the same services as the REST API. Only after COMMIT does the caller send AA.
5. Any failure rolls all of that back; the raw bytes are then kept as `ERROR` with the reason,
   and the AE (or AR) says why with an HL7 table-0357 code. Nothing is half written.

Logs carry one line per message: transport, type, control id, status — never patient data.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from hm_core.common.db import violates
from hm_core.common.errors import (
    Conflict,
    HmError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from hm_core.common.scope import Principal, RequestContext, Scope, scope_active, unscoped
from hm_core.common.time import utcnow
from hm_core.interop.hl7.ack import AckError, build_ack
from hm_core.interop.hl7.message import Header, Hl7Error, Hl7Message, parse, peek_header
from hm_core.interop.mapping import SUPPORTED_MESSAGE_CODES, Inbound, handlers
from hm_core.interop.models import Channel, Message

logger = logging.getLogger("hm_core.interop")

# What an interface may do when it applies a message: the commands of the §11 table, no more.
INTERFACE_PERMISSIONS = frozenset(
    {
        "patients.view",
        "patients.register",
        "patients.update",
        "encounters.view",
        "encounters.create",
        "encounters.check_in",
        "encounters.cancel",
        "orders.view",
        "orders.place",
        "orders.cancel",
        "samples.view",
        "results.view",
        "results.enter",
        "results.verify",
        "results.release",
        "results.correct",
    }
)


@dataclass(frozen=True)
class Route:
    """Where an inbound message lands and who applies it."""

    tenant_id: uuid.UUID
    facility_id: uuid.UUID
    principal: Principal
    channel_id: uuid.UUID | None = None
    ip: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What the transport answers: the ACK, and the log row it belongs to."""

    ack: str
    status: str
    message_id: uuid.UUID | None
    message_type: str
    control_id: str
    encoding: str = "utf-8"

    @property
    def ack_bytes(self) -> bytes:
        """The ACK in the message's own character set (MSH-18)."""
        return self.ack.encode(self.encoding, errors="replace")


def interface_principal(*, user_id: uuid.UUID | None, username: str) -> Principal:
    """The actor of a message's commands: the channel (MLLP) or the posting account (HTTP)."""
    return Principal(
        user_id=user_id,
        username=username,
        roles=frozenset({"integration"}),
        permissions=INTERFACE_PERMISSIONS,
    )


def receive_mllp(raw: bytes, *, peer: str = "") -> Receipt:
    """One message from the MLLP listener: routed by MSH-3 + MSH-4 to its channel."""
    try:
        message = parse(raw)
    except Hl7Error as exc:
        return _refuse(raw, exc, transport="mllp", route=None, header=peek_header(raw))
    channel = channel_for_sender(message.header)
    if channel is None:
        error = Hl7Error(
            "Unknown sender: no channel has this MSH-3/MSH-4.",
            code="204",
            location="MSH^1^3",
            reject=True,
        )
        return _refuse(raw, error, transport="mllp", route=None, header=message.header)
    route = Route(
        tenant_id=channel.tenant_id,
        facility_id=channel.facility_id,
        principal=interface_principal(user_id=None, username=f"hl7:{channel.name}"),
        channel_id=channel.id,
        ip=peer.rsplit(":", 1)[0] or None,
    )
    return _apply_or_refuse(raw, message, transport="mllp", route=route)


def receive_http(raw: bytes, *, scope: Scope) -> Receipt:
    """One message posted to `/api/interop/hl7/`: the scope comes from the request."""
    route = Route(
        tenant_id=scope.tenant_id,
        facility_id=scope.facility_id,
        principal=interface_principal(
            user_id=scope.principal.user_id, username=scope.principal.username
        ),
        ip=scope.context.ip,
    )
    try:
        message = parse(raw)
    except Hl7Error as exc:
        return _refuse(raw, exc, transport="http", route=route, header=peek_header(raw))
    return _apply_or_refuse(raw, message, transport="http", route=route)


def channel_for_sender(header: Header) -> Channel | None:
    """The active HL7 channel named by MSH-3 + MSH-4 (first components, exact match)."""
    with unscoped("MLLP routing: the sender's channel decides the tenant"):
        return Channel.all_tenants.filter(
            protocol=Channel.Protocol.HL7V2,
            is_active=True,
            sending_application=header.sending_application,
            sending_facility=header.sending_facility,
        ).first()


def _apply_or_refuse(raw: bytes, message: Hl7Message, *, transport: str, route: Route) -> Receipt:
    header = message.header
    if (header.message_code, header.trigger_event) not in handlers():
        code = "201" if header.message_code in SUPPORTED_MESSAGE_CODES else "200"
        error = Hl7Error(
            f"{header.message_type} is not supported.", code=code, location="MSH^1^9", reject=True
        )
        return _refuse(raw, error, transport=transport, route=route, header=header)
    first = _first_of(route, header)
    if first is not None:
        return _duplicate(raw, first, transport=transport, route=route, header=header)
    try:
        return _apply(raw, message, transport=transport, route=route)
    except IntegrityError as exc:
        first = _first_of(route, header)
        if first is None or not violates(
            exc, constraint="interop_inbound_once", columns=("control_id",)
        ):
            # Another unique key the message's commands collided with (a concurrent writer):
            # nothing was written; keep the bytes and say so, like any application error.
            error = Hl7Error("A record this message writes exists already.", code="205")
            return _refuse(raw, error, transport=transport, route=route, header=header)
        # A concurrent copy of this message committed first: answer as a duplicate of it.
        return _duplicate(raw, first, transport=transport, route=route, header=header)
    except Hl7Error as exc:
        return _refuse(raw, exc, transport=transport, route=route, header=header)
    except HmError as exc:
        return _refuse(raw, as_hl7_error(exc), transport=transport, route=route, header=header)
    except Exception as exc:
        # Never let one message take the listener down; the traceback names no patient data
        # as long as services raise coded errors, but only the exception type is logged here.
        logger.error(
            "hl7 %s %s %s apply failed: %s",
            transport,
            header.message_type,
            header.control_id,
            type(exc).__name__,
        )
        error = Hl7Error("Application internal error.", code="207")
        return _refuse(raw, error, transport=transport, route=route, header=header)


def _apply(raw: bytes, message: Hl7Message, *, transport: str, route: Route) -> Receipt:
    header = message.header
    message_id = uuid.uuid4()
    scope = _scope(route, message_id)
    ack = build_ack(header, code="AA")
    handler = handlers()[(header.message_code, header.trigger_event)]
    with transaction.atomic():
        row = _row(raw, header, transport=transport, route=route, message_id=message_id)
        row.status, row.ack, row.processed_at = Message.Status.ACCEPTED, ack, utcnow()
        row.save(force_insert=True)  # first: the unique index serialises a concurrent duplicate
        with scope_active(scope):
            handler(Inbound(message=message, scope=scope))
    return _logged(
        Receipt(ack, row.status, row.id, header.message_type, header.control_id, header.encoding),
        transport,
    )


def reapply(row: Message, message: Hl7Message, *, principal: Principal) -> None:
    """Apply a stored `ERROR` message again (replay), in the caller's transaction."""
    if row.tenant_id is None or row.facility_id is None:
        raise ValueError("a message with no tenant was never routed and cannot be replayed")
    route = Route(row.tenant_id, row.facility_id, principal, channel_id=row.channel_id)
    scope = _scope(route, row.id)
    handler = handlers()[(message.header.message_code, message.header.trigger_event)]
    with scope_active(scope):
        handler(Inbound(message=message, scope=scope))


def _scope(route: Route, message_id: uuid.UUID) -> Scope:
    return Scope(
        tenant_id=route.tenant_id,
        facility_id=route.facility_id,
        principal=route.principal,
        context=RequestContext(
            request_id=f"hl7-{message_id}",
            ip=route.ip,
            correlation_id=message_id,
            causation_id=message_id,
        ),
    )


def _first_of(route: Route, header: Header) -> Message | None:
    """The message this sender already sent with this control id, if any."""
    return (
        Message.objects.filter(
            tenant_id=route.tenant_id,
            direction=Message.Direction.INBOUND,
            sending_application=header.sending_application,
            sending_facility=header.sending_facility,
            control_id=header.control_id,
        )
        .exclude(status__in=(Message.Status.DUPLICATE, Message.Status.REJECTED))
        .first()
    )


def _duplicate(
    raw: bytes, first: Message, *, transport: str, route: Route, header: Header
) -> Receipt:
    row = _row(raw, header, transport=transport, route=route, message_id=uuid.uuid4())
    row.status, row.ack, row.duplicate_of_id = Message.Status.DUPLICATE, first.ack, first.id
    row.error, row.processed_at = f"Duplicate of message {first.id}.", utcnow()
    row.save(force_insert=True)
    return _logged(
        Receipt(
            first.ack, row.status, row.id, header.message_type, header.control_id, header.encoding
        ),
        transport,
    )


def _refuse(
    raw: bytes, error: Hl7Error, *, transport: str, route: Route | None, header: Header
) -> Receipt:
    """Keep the raw bytes with the reason (`REJECTED` for AR, `ERROR` for AE); answer why."""
    code = "AR" if error.reject else "AE"
    ack = build_ack(
        header, code=code, text=error.text, error=AckError(code=error.code, location=error.location)
    )
    row = _row(raw, header, transport=transport, route=route, message_id=uuid.uuid4())
    row.status = Message.Status.REJECTED if error.reject else Message.Status.ERROR
    row.ack, row.error, row.error_code = ack, error.text[:2000], error.code
    row.processed_at = utcnow()
    row.save(force_insert=True)
    return _logged(
        Receipt(ack, row.status, row.id, header.message_type, header.control_id, header.encoding),
        transport,
    )


def _row(
    raw: bytes, header: Header, *, transport: str, route: Route | None, message_id: uuid.UUID
) -> Message:
    return Message(
        id=message_id,
        tenant_id=route.tenant_id if route else None,
        facility_id=route.facility_id if route else None,
        channel_id=route.channel_id if route else None,
        direction=Message.Direction.INBOUND,
        transport=transport,
        message_type=header.message_type[:40],
        control_id=header.control_id[:199],
        sending_application=header.sending_application[:180],
        sending_facility=header.sending_facility[:180],
        raw=raw,
        received_at=utcnow(),
        attempts=1,
    )


def as_hl7_error(exc: HmError) -> Hl7Error:
    """A service's refusal as an AE: the REST error code and message become the ERR text."""
    code = "207"
    if isinstance(exc, NotFound):
        code = "204"
    elif isinstance(exc, ValidationFailed):
        code = "102"
    elif isinstance(exc, InvalidTransition | PermissionDenied):
        code = "207"
    elif isinstance(exc, Conflict) and exc.code.startswith("duplicate"):
        code = "205"
    return Hl7Error(f"{exc.code}: {exc.message}", code=code)


def _logged(receipt: Receipt, transport: str) -> Receipt:
    logger.info(
        "hl7 in %s %s control_id=%s status=%s",
        transport,
        receipt.message_type or "-",
        receipt.control_id or "-",
        receipt.status,
    )
    return receipt
