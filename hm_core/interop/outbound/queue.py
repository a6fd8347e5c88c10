"""Queueing outbound HL7: the `hl7_outbound` async subscriber writes the outbox rows.

One PENDING outbound `Message` per channel that asks for the event, its raw ER7 built from the
read models when the event is processed (the values from the event itself: what was released,
not what the result has become since), in the checkpoint's transaction and idempotently (unique
per channel and source event). The sender is woken after that transaction commits.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from hm_core.catalog.selectors import service_by_code
from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.encounters.selectors import encounter_get
from hm_core.events.base import EventMeta
from hm_core.events.subscriptions import async_subscriber
from hm_core.iam import selectors as iam_selectors
from hm_core.interop.hl7 import build
from hm_core.interop.hl7.ack import new_control_id
from hm_core.interop.models import Channel, Message
from hm_core.interop.outbound.sender import outbound_kick
from hm_core.lab.events import ResultCorrected, ResultReleased
from hm_core.orders.events import OrderPlaced
from hm_core.orders.selectors import order_get, order_item_get
from hm_core.patients.selectors import patient_get, patients_denying_sharing

logger = logging.getLogger(__name__)

ORDER_PLACED, RESULT_RELEASED = "order.placed", "lab.result_released"


WITHHELD_REASON = "withheld: the patient has an active data_sharing deny consent"


def consent_permits_sharing(*, scope: Scope, patient_id: uuid.UUID) -> bool:
    """Whether the patient's data may go to outside systems (contract §18: an active
    `data_sharing: deny` consent leaves the patient out of outbound HL7)."""
    denying = patients_denying_sharing(tenant_id=scope.tenant_id, patient_ids=[patient_id])
    return patient_id not in denying


def _outbound_channels(tenant_id: uuid.UUID) -> QuerySet[Channel]:
    """Channels that may send something; with none, the tenant's events are nobody's work."""
    return Channel.all_tenants.filter(
        tenant_id=tenant_id, protocol=Channel.Protocol.HL7V2, is_active=True
    ).exclude(outbound_host="")


@async_subscriber(
    "hl7_outbound",
    OrderPlaced,
    ResultReleased,
    ResultCorrected,
    listeners=_outbound_channels,
)
def outbound_queue_when_event(
    event: OrderPlaced | ResultReleased | ResultCorrected, meta: EventMeta
) -> None:
    """One PENDING outbound message per channel of the facility that asks for the event, once
    (unique per channel and event); the sender is woken after the checkpoint commits."""
    if isinstance(event, OrderPlaced) and event.order_type != "LAB":
        return
    channels = _channels_for(
        meta, ORDER_PLACED if isinstance(event, OrderPlaced) else RESULT_RELEASED
    )
    if not channels:
        return
    if not consent_permits_sharing(scope=meta.scope, patient_id=event.patient_id):
        # Logged, not sent: the message log shows each channel was left out, and why.
        withheld = [_withheld_row(event, meta, channel) for channel in channels]
        Message.objects.bulk_create(withheld, ignore_conflicts=True)
        return
    facts = _sendable_facts(event, meta)
    if facts is None:
        return
    Message.objects.bulk_create(
        [_outbound_row(facts, meta, channel) for channel in channels], ignore_conflicts=True
    )
    channel_ids = [channel.id for channel in channels]
    transaction.on_commit(lambda: outbound_kick(channel_ids))


def _sendable_facts(
    event: OrderPlaced | ResultReleased | ResultCorrected, meta: EventMeta
) -> _Facts | None:
    """The message's facts, or None when the patient is gone."""
    scope = meta.scope
    with scope_active(scope):
        try:
            return _facts(event, meta, scope)
        except NotFound as exc:  # deleted since: nothing to send, and no reason to retry forever
            logger.warning("hl7 outbound: %s %s skipped: %s", meta.event_type, meta.event_id, exc)
            return None


def _channels_for(meta: EventMeta, wanted: str) -> list[Channel]:
    """Active HL7 channels of the event's facility that send `wanted`, except the one whose
    inbound message caused the event (a LIS is not sent its own result back: no echo loop).
    A channel only gets events recorded after it was created: a lagging checkpoint must not
    flood a new channel with history."""
    scope = meta.scope
    with scope_active(scope):
        rows = Channel.objects.for_scope(scope).filter(
            facility_id=meta.facility_id,
            protocol=Channel.Protocol.HL7V2,
            is_active=True,
            created_at__lte=meta.recorded_at,
        )
        source = _source_channel(meta)
        return [
            c for c in rows if c.sends_outbound and wanted in c.outbound_events and c.id != source
        ]


def _source_channel(meta: EventMeta) -> uuid.UUID | None:
    """The channel of the inbound message the event came from (its `causation_id`), if any."""
    if meta.causation_id is None:
        return None
    inbound = Message.objects.filter(
        id=meta.causation_id, tenant_id=meta.tenant_id, direction=Message.Direction.INBOUND
    )
    return inbound.values_list("channel_id", flat=True).first()


@dataclass(frozen=True)
class _Facts:
    """What a message says, read once per event; only the envelope differs per channel."""

    message_type: str
    patient: build.PatientFacts
    order: build.OrderFacts
    services: list[build.ServiceFacts]
    observations: list[build.Observation]
    corrected: bool = False


def _facts(
    event: OrderPlaced | ResultReleased | ResultCorrected, meta: EventMeta, scope: Scope
) -> _Facts:
    order = order_get(scope=scope, order_id=event.order_id)
    patient = patient_get(scope=scope, patient_id=event.patient_id)
    visit = encounter_get(scope=scope, encounter_id=event.encounter_id).visit_number
    patient_facts = build.PatientFacts(
        patient.mrn, patient.full_name, patient.date_of_birth, patient.gender, visit
    )
    order_facts = build.OrderFacts(
        getattr(order, "placer_order_number", "") or "",
        order.created_at,
        order.ordered_by,
        order.priority,
    )
    if isinstance(event, OrderPlaced):
        services = [build.ServiceFacts(i.service_code, i.name, i.loinc_code) for i in event.items]
        return _Facts("ORM^O01", patient_facts, order_facts, services, [])
    item = order_item_get(scope=scope, item_id=event.order_item_id)
    service = build.ServiceFacts(item.service_code, item.name, item.loinc_code)
    observations = _observations(event, tenant_id=meta.tenant_id)
    corrected = isinstance(event, ResultCorrected)
    return _Facts("ORU^R01", patient_facts, order_facts, [service], observations, corrected)


def _observations(
    event: ResultReleased | ResultCorrected, *, tenant_id: uuid.UUID
) -> list[build.Observation]:
    """The event's values (what was released, not whatever the result is now), named from the
    catalog when it knows the analyte."""
    spec = service_by_code(tenant_id=tenant_id, code=event.service_code)
    analytes = {a.code: a for a in spec.analytes} if spec else {}
    observations = []
    for value in event.values:
        analyte = analytes.get(value.code)
        observations.append(
            build.Observation(
                code=value.code,
                name=analyte.name if analyte else "",
                loinc_code=analyte.loinc_code if analyte else "",
                value=value.value,
                unit=value.unit,
                reference_range=value.reference_range,
                flag=value.flag,
            )
        )
    return observations


def _facility_label(meta: EventMeta) -> str:
    """MSH-4: the facility's code (`main`), else its id."""
    code = iam_selectors.facility_code(tenant_id=meta.tenant_id, facility_id=meta.facility_id)
    return code or str(meta.facility_id)


def _render(facts: _Facts, envelope: build.Envelope, meta: EventMeta) -> str:
    if facts.message_type == "ORM^O01":
        return build.build_orm(envelope, facts.patient, facts.order, facts.services)
    return build.build_oru(
        envelope,
        facts.patient,
        facts.order,
        facts.services[0],
        facts.observations,
        corrected=facts.corrected,
        reported_at=meta.occurred_at,
    )


def _outbound_row(facts: _Facts, meta: EventMeta, channel: Channel) -> Message:
    now, control_id, facility = utcnow(), new_control_id(), _facility_label(meta)
    envelope = build.Envelope(
        facility, channel.sending_application, channel.sending_facility, control_id, now
    )
    return Message(
        id=uuid.uuid4(),
        tenant_id=meta.tenant_id,
        facility_id=meta.facility_id,
        channel_id=channel.id,
        direction=Message.Direction.OUTBOUND,
        transport="mllp",
        message_type=facts.message_type,
        control_id=control_id,
        sending_application=build.SENDING_APPLICATION,
        sending_facility=facility,
        status=Message.Status.PENDING,
        raw=_render(facts, envelope, meta).encode("utf-8"),
        received_at=now,
        next_attempt_at=now,
        source_event_id=meta.event_id,
        source_position=meta.position,
    )


def _withheld_row(
    event: OrderPlaced | ResultReleased | ResultCorrected, meta: EventMeta, channel: Channel
) -> Message:
    """The log row of a message not sent for consent: nothing rendered, the reason kept."""
    now = utcnow()
    return Message(
        id=uuid.uuid4(),
        tenant_id=meta.tenant_id,
        facility_id=meta.facility_id,
        channel_id=channel.id,
        direction=Message.Direction.OUTBOUND,
        transport="mllp",
        message_type="ORM^O01" if isinstance(event, OrderPlaced) else "ORU^R01",
        sending_application=build.SENDING_APPLICATION,
        status=Message.Status.WITHHELD,
        error=WITHHELD_REASON,
        raw=b"",
        received_at=now,
        processed_at=now,
        source_event_id=meta.event_id,
        source_position=meta.position,
    )
