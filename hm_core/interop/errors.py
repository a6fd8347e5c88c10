"""Interop error codes (contract §11)."""

from __future__ import annotations

from hm_core.common.errors import Conflict


class ChannelConflict(Conflict):
    """MSH-3 + MSH-4 (or an AE title) already names a channel somewhere in the deployment."""

    default_code = "channel_conflict"
    default_message = "Another channel already uses this sender (MSH-3/MSH-4) or AE title."


class NotReplayable(Conflict):
    default_code = "invalid_transition"
    default_message = "Only ERROR inbound and DEAD outbound messages can be replayed."
