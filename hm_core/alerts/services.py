"""Alert write use-cases: raise (from policies) and acknowledge (clinicians)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypedDict, Unpack

from django.db import transaction

from hm_core.alerts import domain
from hm_core.alerts.events import AlertFinding, AlertRaised
from hm_core.alerts.models import Alert
from hm_core.alerts.selectors import alert_get
from hm_core.common.scope import Scope
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command

STREAM = "alert"


class AlertFacts(TypedDict, total=False):
    """What an alert is about and who must act: `AlertRaised`'s optional typed fields."""

    source_type: str
    source_id: uuid.UUID | None
    source_version: int | None
    assignee_id: uuid.UUID | None
    assignee: str
    findings: Sequence[AlertFinding]


@transaction.atomic
def alert_raise(
    *,
    scope: Scope,
    encounter_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    kind: str,
    severity: str,
    message: str,
    **facts: Unpack[AlertFacts],
) -> uuid.UUID:
    """Raise a new alert about `source_*`, for `assignee` to act on if given; returns its id."""
    alert_id = uuid.uuid4()
    event = AlertRaised.model_validate(
        {
            "alert_id": alert_id,
            "encounter_id": encounter_id,
            "patient_id": patient_id,
            "kind": kind,
            "severity": severity,
            "message": message,
            **facts,
        }
    )
    publish(scope=scope, stream=StreamRef(STREAM, alert_id), expected_version=0, events=[event])
    return alert_id


def alert_acknowledge(
    *, scope: Scope, alert_id: uuid.UUID, note: str, expected_version: int | None
) -> Alert:
    """Acknowledge an open alert: who and when are recorded."""
    return run_command(
        scope=scope,
        permission="alerts.acknowledge",
        stream_type=STREAM,
        load=lambda: alert_get(scope=scope, alert_id=alert_id),
        decide=lambda alert: domain.acknowledge(_state(alert), note=note),
        expected_version=expected_version,
    )


def _state(alert: Alert) -> domain.AlertState:
    return domain.AlertState(
        alert.id, alert.encounter_id, alert.patient_id, alert.status, alert.version
    )
