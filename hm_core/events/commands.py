"""The one shape of a command on an existing aggregate.

Load the aggregate's read model (its snapshot), check the client's If-Match against its
version, let the domain decide, publish the decided events at the loaded version (a concurrent
writer that got there first makes this a 409 `version_conflict`), and answer with the aggregate
as it now stands — all in one transaction, inside the scope guard.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from django.db import models

from hm_core.common.errors import PreconditionFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.unit_of_work import command_block


class Versioned(Protocol):
    @property
    def id(self) -> Any: ...

    @property
    def version(self) -> int: ...


A = TypeVar("A", bound=Versioned)


def check_if_match(expected_version: int | None, current_version: int) -> None:
    """412 `version_mismatch` when the client's If-Match names another version."""
    if expected_version is not None and expected_version != current_version:
        raise PreconditionFailed(details={"current_version": current_version})


def run_command(
    *,
    scope: Scope,
    permission: str,
    stream_type: str,
    load: Callable[[], A],
    decide: Callable[[A], Sequence[DomainEvent]],
    expected_version: int | None,
) -> A:
    """Load, check If-Match, decide, publish at the loaded version, answer with the aggregate
    as the command's writes left it (read again only when they cannot tell)."""
    scope.require(permission)
    with scope_active(scope), command_block() as uow:
        aggregate = load()
        since = uow.since()
        check_if_match(expected_version, aggregate.version)
        events = list(decide(aggregate))
        if events:
            stream = StreamRef(stream_type, uuid.UUID(str(aggregate.id)))
            publish(scope=scope, stream=stream, expected_version=aggregate.version, events=events)
        if isinstance(aggregate, models.Model) and uow.refresh(aggregate, since=since):
            return aggregate
        return load()
