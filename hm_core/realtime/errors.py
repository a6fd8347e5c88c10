"""The socket's close codes and the error codes of its `{"type": "error"}` messages."""

from __future__ import annotations

from hm_core.common.errors import HmError

# Close codes (RFC 6455 leaves 4000-4999 to applications): HTTP's status plus 4000.
CLOSE_BAD_MESSAGE = 4400  # the first message is not an auth message
CLOSE_BAD_TOKEN = 4401  # missing, invalid or expired token, inactive user
CLOSE_NO_MEMBERSHIP = 4403  # no active membership in the facility (also: revoked later)
CLOSE_AUTH_TIMEOUT = 4408  # no auth message in time


class SocketRefused(Exception):
    """Authentication failed: close the socket with `close_code`."""

    def __init__(self, close_code: int) -> None:
        super().__init__(close_code)
        self.close_code = close_code


class InvalidTopic(HmError):
    default_code = "invalid_topic"
    default_message = "A topic is tasks, alerts, encounter:<id> or patient:<id>."


class AlreadySubscribed(HmError):
    default_code = "already_subscribed"
    default_message = "This socket already subscribed; open another for other topics."


class ReplayTooLong(HmError):
    default_code = "replay_too_long"
    default_message = "`after` is too far back; read the history through the REST API."


class BadMessage(HmError):
    default_code = "bad_message"
    default_message = 'Expected {"type": "subscribe", "topics": [...], "after": <int>?}.'
