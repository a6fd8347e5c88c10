"""The channel read model, folded from the channel's events."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import update, upsert
from hm_core.interop.events import ChannelCreated, ChannelUpdated
from hm_core.interop.models import Channel

rebuildable("interop", Channel)


@subscribe(ChannelCreated)
def channel_apply_created(event: ChannelCreated, meta: EventMeta) -> None:
    upsert(
        Channel,
        id=event.channel_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "name": event.name,
            "protocol": event.protocol,
            **event.settings,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(ChannelUpdated)
def channel_apply_updated(event: ChannelUpdated, meta: EventMeta) -> None:
    update(
        Channel.all_tenants.filter(id=event.channel_id),
        **event.changes,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
