"""Policies that raise alerts from other modules' events; skipped on replay."""

from __future__ import annotations

from hm_core.alerts import domain
from hm_core.alerts.services import alert_raise
from hm_core.common.scope import scope_active
from hm_core.encounters.events import VitalsRecorded
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.lab.events import ResultCorrected, ResultReleased, SampleRejected
from hm_core.orders.selectors import order_get


@subscribe(VitalsRecorded, stage=Stage.POLICY)
def alert_raise_when_news2_high(event: VitalsRecorded, meta: EventMeta) -> None:
    """NEWS2 >= 5 or any single parameter scoring 3 calls for a clinical response."""
    if not event.news2_alert:
        return
    alert_raise(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        kind="news2_high",
        severity=domain.news2_severity(event.news2_total),
        message=f"NEWS2 {event.news2_total} ({event.news2_risk.replace('_', '-')} risk)",
        data={"vitals_id": str(event.vitals_id), "news2_parameters": event.news2_parameters},
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
    critical = [v for v in event.values if v.flag in ("LL", "HH")] or event.values
    shown = ", ".join(f"{v.code} {v.value} {v.unit} {v.flag}".rstrip() for v in critical)
    alert_raise(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        kind="critical_result",
        severity=domain.CRITICAL,
        message=f"Critical {event.service_code} result: {shown}"[:500],
        data={
            "result_id": str(event.result_id),
            "result_version": event.version,
            "order_id": str(event.order_id),
            "order_item_id": str(event.order_item_id),
            "service_code": event.service_code,
            "values": [v.model_dump(mode="json") for v in event.values],
            "ordered_by_id": str(order.ordered_by_id) if order.ordered_by_id else None,
            "ordered_by": order.ordered_by,
        },
    )


@subscribe(SampleRejected, stage=Stage.POLICY)
def alert_raise_when_sample_rejected(event: SampleRejected, meta: EventMeta) -> None:
    """A rejected specimen delays results: the care team is warned that it is recollected."""
    alert_raise(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        kind="sample_rejected",
        severity=domain.WARNING,
        message=f"Sample rejected: {event.reason}"[:500],
        data={
            "sample_id": str(event.sample_id),
            "order_id": str(event.order_id),
            "item_ids": [str(item_id) for item_id in event.item_ids],
            "reason": event.reason,
        },
    )
