"""Contract §11: interface channels, HL7 v2 over HTTP, the message log and replay."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.errors import HmError
from hm_core.common.http import if_match, with_etag
from hm_core.common.pagination import paginate
from hm_core.common.schemas import PageParams
from hm_core.common.scope import scope_active
from hm_core.interop import services
from hm_core.interop.inbound import receive_http
from hm_core.interop.models import Channel, Message
from hm_core.interop.schemas import (
    ChannelCreateIn,
    ChannelOut,
    ChannelPageOut,
    ChannelUpdateIn,
    MessageDetailOut,
    MessageListFilters,
    MessagePageOut,
)
from hm_core.interop.selectors import channel_get, channel_list, message_list

router = Router(tags=["interop"])

HL7_MEDIA_TYPES = ("application/hl7-v2", "x-application/hl7-v2+er7", "text/plain")
MAX_HL7_BYTES = 1_000_000


class UnsupportedMediaType(HmError):
    status = 415
    default_code = "unsupported_media_type"
    default_message = "Send the ER7 message as application/hl7-v2 (or text/plain)."


@router.post("/channels/", response={201: ChannelOut, **ERRORS})
def channel_create(
    request: HttpRequest, payload: ChannelCreateIn, response: HttpResponse
) -> Status[Channel]:
    """Register an interface channel (admin): an outside system's MSH-3/MSH-4 or AE title."""
    channel = services.channel_create(
        scope=scope_of(request),
        name=payload.name,
        protocol=payload.protocol,
        facility_id=payload.facility_id,
        **payload.settings(),
    )
    return Status(201, with_etag(response, channel))


@router.get("/channels/", response={200: ChannelPageOut, **ERRORS})
def channel_list_page(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    scope = scope_of(request)
    scope.require("interop.configure")
    with scope_active(scope):
        return paginate(channel_list(scope=scope), limit=page.limit, offset=page.offset)


@router.get("/channels/{channel_id}/", response={200: ChannelOut, **ERRORS})
def channel_view(request: HttpRequest, channel_id: uuid.UUID, response: HttpResponse) -> Channel:
    scope = scope_of(request)
    scope.require("interop.configure")
    with scope_active(scope):
        channel = channel_get(scope=scope, channel_id=channel_id)
    return with_etag(response, channel)


@router.patch("/channels/{channel_id}/", response={200: ChannelOut, **ERRORS})
def channel_update(
    request: HttpRequest, channel_id: uuid.UUID, payload: ChannelUpdateIn, response: HttpResponse
) -> Channel:
    channel = services.channel_update(
        scope=scope_of(request),
        channel_id=channel_id,
        changes=payload.changes(),
        expected_version=if_match(request),
    )
    return with_etag(response, channel)


@router.post(
    "/hl7/",
    response={200: None, 413: Any, 415: Any, **ERRORS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/hl7-v2": {"schema": {"type": "string"}}},
        },
        "responses": {
            "200": {
                "description": "The HL7 ACK (AA, AE or AR)",
                "content": {"application/hl7-v2": {"schema": {"type": "string"}}},
            }
        },
    },
)
def hl7_message_post(request: HttpRequest) -> HttpResponse:
    """Post one ER7 message; the answer is its ACK, sent only after everything committed."""
    scope = scope_of(request)
    scope.require("interop.post")
    media_type = (request.content_type or "").lower()
    if media_type not in HL7_MEDIA_TYPES:
        raise UnsupportedMediaType(details={"content_type": media_type})
    receipt = receive_http(request.body, scope=scope)
    return HttpResponse(
        receipt.ack_bytes,
        status=200,
        content_type=f"application/hl7-v2; charset={receipt.encoding}",
    )


@router.get("/messages/", response={200: MessagePageOut, **ERRORS})
def message_list_page(request: HttpRequest, filters: Query[MessageListFilters]) -> dict[str, Any]:
    """The tenant's message log, newest first (no message bodies: see the detail)."""
    scope = scope_of(request)
    scope.require("interop.view")
    qs = message_list(
        scope=scope,
        channel=filters.channel,
        direction=filters.direction,
        status=filters.status,
        control_id=filters.control_id,
    )
    return paginate(qs, limit=filters.limit, offset=filters.offset)


@router.get("/messages/{message_id}/", response={200: MessageDetailOut, **ERRORS})
def message_view(request: HttpRequest, message_id: uuid.UUID) -> Message:
    """One message with its raw text and ACK: an audited PHI read."""
    return services.message_view(scope=scope_of(request), message_id=message_id)


@router.post("/messages/{message_id}/replay/", response={200: MessageDetailOut, **ERRORS})
def message_replay(request: HttpRequest, message_id: uuid.UUID) -> Message:
    """Apply an ERROR inbound message again, or resend a DEAD outbound one."""
    return services.message_replay(scope=scope_of(request), message_id=message_id)
