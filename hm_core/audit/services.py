"""Audit write use-cases. Reads of patient data are recorded here by the services that serve them.

The audit trail is platform, like the bus: any module's read use-case may call
`phi_read_record` so that every disclosure of a patient's data leaves a record.
"""

from __future__ import annotations

import uuid
from typing import Any

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow


def phi_read_record(
    *, scope: Scope, patient_id: uuid.UUID | None, action: str, detail: dict[str, Any] | None = None
) -> None:
    """Record that the principal read `patient_id`'s data (who, when, IP, user agent)."""
    ctx = scope.context
    AuditRecord.objects.create(
        tenant_id=scope.tenant_id,
        facility_id=scope.facility_id,
        kind=AuditRecord.Kind.READ,
        action=action,
        patient_id=patient_id,
        actor_id=scope.principal.user_id,
        actor_username=scope.principal.username,
        request_id=ctx.request_id or "",
        ip=ctx.ip or "",
        user_agent=ctx.user_agent or "",
        occurred_at=utcnow(),
        detail=detail or {},
    )
