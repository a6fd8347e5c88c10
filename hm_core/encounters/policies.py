"""The encounter's reactions (skipped on replay): a high early-warning score raises an alert."""

from __future__ import annotations

from hm_core.alerts.events import CRITICAL, HIGH, AlertFinding
from hm_core.alerts.services import alert_raise
from hm_core.encounters.events import VitalsRecorded
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe

NEWS2_ALERT = "news2_high"  # the alert kind this module raises


def news2_severity(total: int) -> str:
    """NEWS2 7+ needs an emergency response (critical); 5-6 or a single 3, an urgent one."""
    return CRITICAL if total >= 7 else HIGH


@subscribe(VitalsRecorded, stage=Stage.POLICY)
def alert_raise_when_news2_high(event: VitalsRecorded, meta: EventMeta) -> None:
    """NEWS2 >= 5 or any single parameter scoring 3 calls for a clinical response."""
    if not event.news2_alert:
        return
    alert_raise(
        scope=meta.scope,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        kind=NEWS2_ALERT,
        severity=news2_severity(event.news2_total),
        message=f"NEWS2 {event.news2_total} ({event.news2_risk.replace('_', '-')} risk)",
        source_type="vitals",
        source_id=event.vitals_id,
        findings=[
            AlertFinding(code=code, value=str(score))
            for code, score in event.news2_parameters.items()
        ],
    )
