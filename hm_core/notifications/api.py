"""Contract §14: the reminders sent (or to be sent) to patients (admin)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.pagination import paginate
from hm_core.common.scope import scope_active
from hm_core.notifications.schemas import NotificationListFilters, NotificationPageOut
from hm_core.notifications.selectors import notification_list

router = Router(tags=["notifications"])


@router.get("/", response={200: NotificationPageOut, **ERRORS})
def notification_list_page(request: HttpRequest, filters: Query[NotificationListFilters]) -> Any:
    """The facility's notifications: `?patient=&status=`."""
    scope = scope_of(request)
    scope.require("notifications.view")
    with scope_active(scope):
        qs = notification_list(scope=scope, patient=filters.patient, status=filters.status)
        return paginate(qs, limit=filters.limit, offset=filters.offset)
