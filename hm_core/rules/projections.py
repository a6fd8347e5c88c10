"""The rule read model, folded from `rule.defined` events (the defaults live in code)."""

from __future__ import annotations

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import upsert
from hm_core.rules.events import RuleDefined
from hm_core.rules.models import RuleDefinition, definition_id

rebuildable("rules", RuleDefinition)


@subscribe(RuleDefined)
def rule_apply_defined(event: RuleDefined, meta: EventMeta) -> None:
    upsert(
        RuleDefinition,
        id=definition_id(meta.stream.id, event.code),
        defaults={
            "tenant_id": meta.tenant_id,
            "rule_set": event.rule_set,
            "code": event.code,
            "fact": event.fact,
            "operator": event.operator,
            "value": event.value,
            "message": event.message,
            "enabled": event.enabled,
            "order": event.order,
        },
    )
