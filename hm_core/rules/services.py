"""Rule write use-cases: a tenant admin defines, changes or switches off a rule."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.db import transaction

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope, scope_active
from hm_core.events.backfill import Pending, config_backfill
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.rules import domain
from hm_core.rules.events import RuleDefined
from hm_core.rules.models import RuleDefinition, definition_id, rule_set_stream_id
from hm_core.rules.selectors import rule_set_definitions

STREAM = "rule_set"


def rule_define(
    *, scope: Scope, rule_set: str, code: str, enabled: bool, order: int, **rule: Any
) -> list[domain.Definition]:
    """Define one rule of `rule_set` (a default's code overrides the default) and answer the
    whole set as it now stands; the change is an event on the tenant's chain."""
    scope.require("tenant.configure")
    if rule_set not in domain.FACTS:
        raise NotFound(details={"resource": "rule_set"})
    definition = domain.Definition(domain.Rule(code=code, **rule), enabled=enabled, order=order)
    with scope_active(scope), transaction.atomic():
        current = rule_set_definitions(tenant_id=scope.tenant_id, name=rule_set)
        events = domain.define(current, rule_set=rule_set, definition=definition)
        if events:
            stream = StreamRef(STREAM, rule_set_stream_id(scope.tenant_id, rule_set))
            publish(scope=scope, stream=stream, expected_version=None, events=events)
        return rule_set_definitions(tenant_id=scope.tenant_id, name=rule_set)


@config_backfill("rules")
def rules_without_events(tenant_id: uuid.UUID | None) -> Iterator[Pending]:
    """Rules an admin wrote before rule changes were events: their row id is not the one the
    projection gives (`definition_id`), so each is cleared and recorded as `rule.defined`."""
    rows = RuleDefinition.objects.all()
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    for row in rows.order_by("tenant_id", "rule_set", "order", "code"):
        stream_id = rule_set_stream_id(row.tenant_id, row.rule_set)
        if row.id == definition_id(stream_id, row.code):
            continue
        event = RuleDefined(
            rule_set=row.rule_set,
            code=row.code,
            fact=row.fact,
            operator=row.operator,
            value=row.value,
            message=row.message,
            enabled=row.enabled,
            order=row.order,
        )
        clear = RuleDefinition.objects.filter(id=row.id).delete
        yield Pending(row.tenant_id, StreamRef(STREAM, stream_id), [event], clear=clear)
