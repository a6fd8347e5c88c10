"""HTTP helpers for endpoints: If-Match parsing and ETag headers (contract §1)."""

from __future__ import annotations

import re
from typing import Protocol, TypeVar

from django.http import HttpRequest, HttpResponse

from hm_core.common.errors import PreconditionFailed

# `"3"`, `W/"3"` or a bare `3`; quotes come in pairs.
_ETAG = re.compile(r'^(?:W/)?(?:"(\d{1,18})"|(\d{1,18}))$')


def if_match(request: HttpRequest) -> int | None:
    """The version the client expects from `If-Match: "<version>"`; None when not sent."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    match = _ETAG.match(raw.strip())
    if match is None:
        raise PreconditionFailed(details={"if_match": raw})
    return int(match.group(1) or match.group(2))


def set_etag(response: HttpResponse, version: int) -> None:
    response["ETag"] = f'"{version}"'


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=_Versioned)


def with_etag(response: HttpResponse, aggregate: V) -> V:
    """Answer `aggregate` with its version as the ETag (the If-Match of the next change)."""
    set_etag(response, aggregate.version)
    return aggregate
