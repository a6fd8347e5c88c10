"""Rule sets of a tenant, as pure `Rule` values for the engine."""

from __future__ import annotations

import uuid

from hm_core.rules.domain import DEFAULT_CLOSE_GATE, Rule
from hm_core.rules.models import RuleDefinition

CLOSE_GATE = "encounter.close_gate"
DEFAULTS: dict[str, tuple[Rule, ...]] = {CLOSE_GATE: DEFAULT_CLOSE_GATE}


def rule_set(*, tenant_id: uuid.UUID, name: str) -> list[Rule]:
    """The tenant's enabled rules of `name`; a tenant that never configured it gets defaults.

    Defaults are written on first use so that the admin can then switch them off or edit them.
    """
    rows = RuleDefinition.objects.filter(tenant_id=tenant_id, rule_set=name)
    if not rows.exists():
        RuleDefinition.objects.bulk_create(
            [
                RuleDefinition(
                    tenant_id=tenant_id,
                    rule_set=name,
                    code=r.code,
                    fact=r.fact,
                    operator=r.operator,
                    value=r.value,
                    message=r.message,
                    order=10 * (i + 1),
                )
                for i, r in enumerate(DEFAULTS.get(name, ()))
            ],
            ignore_conflicts=True,
        )
    return [
        Rule(row.code, row.fact, row.operator, row.value, row.message)
        for row in rows.filter(enabled=True).order_by("order", "code")
    ]
