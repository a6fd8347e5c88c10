"""Reactions to patient events (skipped on replay: the alerts they raise are replayed)."""

from __future__ import annotations

import dataclasses

from hm_core.alerts.events import HIGH
from hm_core.alerts.services import alert_raise
from hm_core.events.base import EventMeta
from hm_core.events.bus import Stage, subscribe
from hm_core.iam.selectors import tenant_admins
from hm_core.patients.events import PatientBreakGlassGranted


@subscribe(PatientBreakGlassGranted, stage=Stage.POLICY)
def alert_raise_when_break_glass_granted(event: PatientBreakGlassGranted, meta: EventMeta) -> None:
    """Each of the tenant's administrators gets an alert, in a facility of theirs, naming who
    broke the glass (the reason stays in the audited event, not in the alert text)."""
    admins = tenant_admins(tenant_id=meta.tenant_id, prefer_facility=meta.facility_id)
    for admin in admins:
        scope = dataclasses.replace(meta.scope, facility_id=admin.facility_id)
        alert_raise(
            scope=scope,
            encounter_id=None,
            patient_id=event.patient_id,
            kind="break_glass",
            severity=HIGH,
            message=f"Break-glass access to a confidential patient by {meta.actor_username}",
            source_type="break_glass",
            source_id=event.grant_id,
            assignee_id=admin.user_id,
            assignee=admin.username,
        )
