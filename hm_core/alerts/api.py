"""Contract §7: alerts — list and acknowledge."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Query, Router

from hm_core.alerts import services
from hm_core.alerts.models import Alert
from hm_core.alerts.schemas import AlertAcknowledgeIn, AlertListFilters, AlertOut, AlertPageOut
from hm_core.alerts.selectors import alert_list
from hm_core.common.api import ERRORS, scope_of
from hm_core.common.http import if_match, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.scope import scope_active

router = Router(tags=["alerts"])


@router.get("/", response={200: AlertPageOut, **ERRORS})
def alert_list_page(request: HttpRequest, filters: Query[AlertListFilters]) -> dict[str, Any]:
    """The facility's alerts, newest first; `?status=OPEN` for the work list."""
    scope = scope_of(request)
    scope.require("alerts.view")
    with scope_active(scope):
        qs = alert_list(
            scope=scope, status=filters.status, encounter=filters.encounter, patient=filters.patient
        )
        return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.post("/{alert_id}/acknowledge/", response={200: AlertOut, **ERRORS})
def alert_acknowledge(
    request: HttpRequest,
    alert_id: uuid.UUID,
    response: HttpResponse,
    payload: AlertAcknowledgeIn | None = Body(None),  # noqa: B008 - Ninja's way to declare a body
) -> Alert:
    """OPEN → ACKNOWLEDGED: records who acknowledged and when."""
    alert = services.alert_acknowledge(
        scope=scope_of(request),
        alert_id=alert_id,
        note=payload.note if payload else "",
        expected_version=if_match(request),
    )
    return with_etag(response, alert)
