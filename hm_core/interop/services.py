"""Interop write use-cases: channels (events on the chain), message replay, audited reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from django.db import IntegrityError, transaction

from hm_core.audit.services import audited_read_each
from hm_core.common.db import violates
from hm_core.common.errors import HmError, ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.iam.selectors import facility_in_tenant
from hm_core.interop import domain
from hm_core.interop.errors import ChannelConflict, NotReplayable
from hm_core.interop.hl7.ack import AckError, build_ack
from hm_core.interop.hl7.message import Hl7Error, parse
from hm_core.interop.models import Channel, Message
from hm_core.interop.selectors import (
    channel_ae_title_taken,
    channel_get,
    channel_sender_taken,
    message_get,
    patients_of_message,
)

STREAM = "interop_channel"


@contextmanager
def _unique_sender() -> Iterator[None]:
    """A lost race on one MSH-3/MSH-4 pair or AE title is the same 409 as the check."""
    try:
        yield
    except IntegrityError as exc:
        for constraint, column in (
            ("interop_channel_hl7_sender_unique", "sending_application"),
            ("interop_channel_ae_title_unique", "ae_title"),
        ):
            if violates(exc, constraint=constraint, columns=(column,)):
                raise ChannelConflict() from exc
        raise


def _check_unique(settings: dict[str, Any], protocol: str, exclude: uuid.UUID | None) -> None:
    if protocol == domain.HL7V2 and channel_sender_taken(
        sending_application=settings.get("sending_application", ""),
        sending_facility=settings.get("sending_facility", ""),
        exclude=exclude,
    ):
        raise ChannelConflict()
    if protocol == domain.DICOM and channel_ae_title_taken(
        ae_title=settings.get("ae_title", ""), exclude=exclude
    ):
        raise ChannelConflict()


def channel_create(
    *, scope: Scope, name: str, protocol: str, facility_id: uuid.UUID, **settings: Any
) -> Channel:
    """Register an outside system; its MSH-3/MSH-4 (or AE title) is unique in the deployment."""
    scope.require("interop.configure")
    if not facility_in_tenant(tenant_id=scope.tenant_id, facility_id=facility_id):
        raise ValidationFailed.field("facility_id", "No such facility in this tenant.")
    channel_id = uuid.uuid4()
    events = domain.create(channel_id=channel_id, name=name, protocol=protocol, settings=settings)
    # The channel's events belong to the facility it serves, whichever facility the admin is in.
    in_facility = replace(scope, facility_id=facility_id)
    with scope_active(in_facility), _unique_sender(), transaction.atomic():
        _check_unique(settings, protocol, exclude=None)
        publish(
            scope=in_facility,
            stream=StreamRef(STREAM, channel_id),
            expected_version=0,
            events=events,
        )
        return channel_get(scope=in_facility, channel_id=channel_id)


def channel_update(
    *, scope: Scope, channel_id: uuid.UUID, changes: dict[str, Any], expected_version: int | None
) -> Channel:
    """Change a channel's settings; only what really changed goes into the event."""

    def decide(channel: Channel) -> list[Any]:
        state = domain.ChannelState(
            channel.id, channel.protocol, {k: getattr(channel, k) for k in domain.SETTINGS}
        )
        events = domain.update(state, changes=changes)
        if events:
            _check_unique({**state.settings, **changes}, channel.protocol, exclude=channel.id)
        return events

    with scope_active(scope):
        channel = channel_get(scope=scope, channel_id=channel_id)
    in_facility = replace(scope, facility_id=channel.facility_id)
    with _unique_sender():
        return run_command(
            scope=in_facility,
            permission="interop.configure",
            stream_type=STREAM,
            load=lambda: channel_get(scope=in_facility, channel_id=channel_id),
            decide=decide,
            expected_version=expected_version,
        )


def message_view(*, scope: Scope, message_id: uuid.UUID) -> Message:
    """One message with its raw bytes and ACK: a PHI read, recorded in the audit trail once
    for each patient the message changed (so `?patient=` finds it), or once unattributed."""
    return audited_read_each(
        scope=scope,
        permission="interop.view",
        action="interop.message_viewed",
        load=lambda: message_get(scope=scope, message_id=message_id),
        reads=lambda message: _message_reads(scope, message),
    )


def _message_reads(scope: Scope, message: Message) -> list[tuple[uuid.UUID | None, dict[str, Any]]]:
    detail = {"message_id": str(message.id), "control_id": message.control_id}
    patients: list[uuid.UUID | None] = [*patients_of_message(scope=scope, message=message)]
    return [(patient_id, detail) for patient_id in patients or [None]]


def message_replay(*, scope: Scope, message_id: uuid.UUID) -> Message:
    """Apply an ERROR inbound message again, or send a DEAD outbound one again."""
    scope.require("interop.replay")
    message = message_get(scope=scope, message_id=message_id)
    if message.direction == Message.Direction.OUTBOUND and message.status == Message.Status.DEAD:
        from hm_core.interop.outbound import outbound_requeue

        return outbound_requeue(message)
    if message.direction != Message.Direction.INBOUND or message.status != Message.Status.ERROR:
        raise NotReplayable(details={"status": message.status, "direction": message.direction})
    return _reapply(message, scope=scope)


def _reapply(message: Message, *, scope: Scope) -> Message:
    from hm_core.interop.inbound import interface_principal, reapply

    parsed = parse(bytes(message.raw))
    principal = interface_principal(
        user_id=scope.principal.user_id, username=f"{scope.principal.username} (replay)"
    )
    message.attempts += 1
    try:
        with transaction.atomic():
            reapply(message, parsed, principal=principal)
            message.status, message.error, message.error_code = Message.Status.ACCEPTED, "", ""
            message.ack, message.processed_at = build_ack(parsed.header, code="AA"), utcnow()
            message.save()
    except (Hl7Error, HmError) as exc:
        from hm_core.interop.inbound import as_hl7_error

        error = exc if isinstance(exc, Hl7Error) else as_hl7_error(exc)
        message.error, message.error_code = error.text[:2000], error.code
        message.ack = build_ack(
            parsed.header, code="AE", text=error.text, error=AckError(error.code, error.location)
        )
        message.processed_at = utcnow()
        message.save()
    return message
