"""The laboratory workflow's reactions (skipped on replay): a LAB order expects its samples, a
rejected sample is recollected, a cancelled order cancels the samples nobody needs any more, and
a critical result or a rejected sample raises an alert."""

from __future__ import annotations

import uuid

from hm_core.alerts.events import CRITICAL, WARNING, AlertFinding
from hm_core.alerts.services import alert_raise
from hm_core.common.scope import scope_active
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.lab import domain
from hm_core.lab.events import (
    CRITICAL_RESULT_ALERT,
    SAMPLE_REJECTED_ALERT,
    ResultCorrected,
    ResultReleased,
    SampleRejected,
)
from hm_core.lab.selectors import sample_get, samples_of_order
from hm_core.lab.services import sample_cancel_if_unneeded, sample_create
from hm_core.orders.events import ITEM_CANCELLED, OrderCancelled, OrderPlaced
from hm_core.orders.selectors import order_get, order_items


@subscribe(OrderPlaced, stage=Stage.POLICY)
def samples_create_when_order_placed(event: OrderPlaced, meta: EventMeta) -> None:
    """One sample per specimen type of a LAB order's items (CBC + CRP: blood and serum)."""
    if event.order_type != domain.LAB_ORDER:
        return
    planned = [
        domain.PlannedItem(item.item_id, item.service_code, item.specimen_type)
        for item in event.items
    ]
    for group in domain.plan_samples(planned):
        sample_create(
            scope=meta.scope,
            order_id=event.order_id,
            encounter_id=event.encounter_id,
            patient_id=event.patient_id,
            group=group,
        )


@subscribe(SampleRejected, stage=Stage.POLICY)
def sample_recollect_when_rejected(event: SampleRejected, meta: EventMeta) -> None:
    """A new sample of the same specimen for the rejected one's items still wanted."""
    scope = meta.scope
    with scope_active(scope):
        rejected = sample_get(scope=scope, sample_id=event.sample_id)
        items = order_items(scope=scope, order_ids=[event.order_id]).get(event.order_id, [])
    wanted = {item.id for item in items if item.status != ITEM_CANCELLED}
    pairs = zip(rejected.item_ids, rejected.service_codes, strict=True)
    keep = [(uuid.UUID(raw), code) for raw, code in pairs if uuid.UUID(raw) in wanted]
    if not keep:
        return
    sample_create(
        scope=scope,
        order_id=event.order_id,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        group=domain.SampleGroup(
            specimen_type=rejected.specimen_type,
            item_ids=tuple(item_id for item_id, _ in keep),
            service_codes=tuple(code for _, code in keep),
        ),
        replaces_sample_id=event.sample_id,
    )


@subscribe(OrderCancelled, stage=Stage.POLICY)
def samples_cancel_when_order_cancelled(event: OrderCancelled, meta: EventMeta) -> None:
    """Pending samples whose every item is now cancelled are no longer needed."""
    scope = meta.scope
    with scope_active(scope):
        items = order_items(scope=scope, order_ids=[event.order_id]).get(event.order_id, [])
        pending = samples_of_order(scope=scope, order_id=event.order_id, status=domain.PENDING)
    cancelled = {item.id for item in items if item.status == ITEM_CANCELLED}
    for sample in pending:
        sample_cancel_if_unneeded(
            scope=scope,
            sample_id=sample.id,
            cancelled_item_ids=cancelled,
            reason="order cancelled" + (f": {event.reason}" if event.reason else ""),
        )


@subscribe(ResultReleased, ResultCorrected, stage=Stage.POLICY)
def alert_raise_when_result_critical(
    event: ResultReleased | ResultCorrected, meta: EventMeta
) -> None:
    """A critical value reaching the clinicians (released, or a correction) must be acted on
    by the clinician who ordered it: a critical alert that blocks the encounter's close."""
    if not event.is_critical:
        return
    with scope_active(meta.scope):
        order = order_get(scope=meta.scope, order_id=event.order_id)
    alert_raise(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        kind=CRITICAL_RESULT_ALERT,
        severity=CRITICAL,
        message=_critical_message(event),
        source_type="lab_result",
        source_id=event.result_id,
        source_version=event.version,
        assignee_id=order.ordered_by_id,
        assignee=order.ordered_by if order.ordered_by_id else "",
        findings=[
            AlertFinding(code=v.code, value=v.value, unit=v.unit, flag=v.flag) for v in event.values
        ],
    )


def _critical_message(event: ResultReleased | ResultCorrected) -> str:
    critical = [v for v in event.values if v.flag in ("LL", "HH")] or event.values
    shown = ", ".join(f"{v.code} {v.value} {v.unit} {v.flag}".rstrip() for v in critical)
    return f"Critical {event.service_code} result: {shown}"[:500]


@subscribe(SampleRejected, stage=Stage.POLICY)
def alert_raise_when_sample_rejected(event: SampleRejected, meta: EventMeta) -> None:
    """A rejected specimen delays results: the care team is warned that it is recollected."""
    alert_raise(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        kind=SAMPLE_REJECTED_ALERT,
        severity=WARNING,
        message=f"Sample rejected: {event.reason}"[:500],
        source_type="lab_sample",
        source_id=event.sample_id,
    )
