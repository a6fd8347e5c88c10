"""Rule sets of a tenant: the defaults in code overlaid by the tenant's own definitions."""

from __future__ import annotations

import uuid

from hm_core.rules.domain import CLOSE_GATE, Definition, Rule, effective
from hm_core.rules.models import RuleDefinition

__all__ = ["CLOSE_GATE", "rule_set", "rule_set_definitions"]


def rule_set_definitions(*, tenant_id: uuid.UUID, name: str) -> list[Definition]:
    """Every rule of the set as the tenant now has it, on or off, in rule order (one query)."""
    rows = RuleDefinition.objects.filter(tenant_id=tenant_id, rule_set=name)
    defined = [
        Definition(
            Rule(row.code, row.fact, row.operator, row.value, row.message),
            enabled=row.enabled,
            order=row.order,
        )
        for row in rows
    ]
    return effective(name, defined)


def rule_set(*, tenant_id: uuid.UUID, name: str) -> list[Rule]:
    """The enabled rules of `name`, in order: what the engine evaluates. A read, never a write."""
    return [d.rule for d in rule_set_definitions(tenant_id=tenant_id, name=name) if d.enabled]
