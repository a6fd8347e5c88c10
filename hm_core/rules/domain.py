"""A small, data-driven rules engine, and the decisions of a tenant's rule changes — pure Python.

A rule compares one named fact with a value: `vitals_recorded is_true`, `open_critical_alerts
eq 0`, `latest_news2 lte 4`. Facts come from the caller (e.g. the encounter's close-gate facts);
a rule over a fact the caller does not know fails, so a mistyped rule blocks rather than passes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hm_core.common.errors import ValidationFailed
from hm_core.rules.events import RuleDefined

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "is_true": lambda fact, _: fact is True,
    "is_false": lambda fact, _: fact is False,
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


@dataclass(frozen=True)
class Rule:
    code: str
    fact: str
    operator: str
    value: Any = None
    message: str = ""


def passes(rule: Rule, facts: Mapping[str, Any]) -> bool:
    """True when the fact exists and satisfies the rule; comparisons with None fail."""
    if rule.fact not in facts or rule.operator not in OPERATORS:
        return False
    fact = facts[rule.fact]
    if fact is None and rule.operator not in ("eq", "ne"):
        return False
    try:
        return bool(OPERATORS[rule.operator](fact, rule.value))
    except TypeError:
        return False


def failed_codes(rules: Iterable[Rule], facts: Mapping[str, Any]) -> list[str]:
    """Codes of the rules that do not pass, in rule order."""
    return [rule.code for rule in rules if not passes(rule, facts)]


# Close-gate rules every tenant starts with; a tenant admin may disable them or add more.
DEFAULT_CLOSE_GATE = (
    Rule("vitals_recorded", "vitals_recorded", "is_true", None, "Vitals must be recorded."),
    Rule("assessment_recorded", "assessment_recorded", "is_true", None, "Assessment missing."),
    Rule("plan_recorded", "plan_recorded", "is_true", None, "Plan missing."),
    Rule(
        "no_unacknowledged_critical_alert",
        "open_critical_alerts",
        "eq",
        0,
        "A critical alert must be acknowledged first.",
    ),
)


CLOSE_GATE = "encounter.close_gate"
# What every tenant starts with, per rule set; a tenant's own definition of a code replaces it.
DEFAULTS: dict[str, tuple[Rule, ...]] = {CLOSE_GATE: DEFAULT_CLOSE_GATE}
# The facts the caller of each rule set computes (encounters.domain.close_gate_facts): a rule
# may only name one of these, so a typo is refused when the rule is written, not at close time.
FACTS: dict[str, frozenset[str]] = {
    CLOSE_GATE: frozenset(
        {
            "status",
            "vitals_recorded",
            "vitals_count",
            "assessment_recorded",
            "plan_recorded",
            "latest_news2",
            "open_critical_alerts",
        }
    )
}
_VALUELESS = ("is_true", "is_false")
_CODE = re.compile(r"[a-z0-9_]{1,64}")


@dataclass(frozen=True)
class Definition:
    """A rule as a tenant configures it: the rule, whether it is on, and where it sorts."""

    rule: Rule
    enabled: bool = True
    order: int = 100
    source: str = "tenant"  # or "default": not (yet) defined by the tenant


def default_definitions(rule_set: str) -> list[Definition]:
    return [
        Definition(rule, order=10 * (i + 1), source="default")
        for i, rule in enumerate(DEFAULTS.get(rule_set, ()))
    ]


def effective(rule_set: str, defined: list[Definition]) -> list[Definition]:
    """Defaults overlaid by the tenant's definitions (same code replaces), in rule order."""
    by_code = {d.rule.code: d for d in default_definitions(rule_set)}
    by_code.update({d.rule.code: d for d in defined})
    return sorted(by_code.values(), key=lambda d: (d.order, d.rule.code))


def define(
    current: list[Definition], *, rule_set: str, definition: Definition
) -> list[RuleDefined]:
    """Define (or redefine) one rule of a rule set; an unchanged definition is no event."""
    _check(rule_set, definition.rule)
    if any(d == definition for d in current if d.source == "tenant"):
        return []
    rule = definition.rule
    return [
        RuleDefined(
            rule_set=rule_set,
            code=rule.code,
            fact=rule.fact,
            operator=rule.operator,
            value=None if rule.operator in _VALUELESS else rule.value,
            message=rule.message,
            enabled=definition.enabled,
            order=definition.order,
        )
    ]


def _check(rule_set: str, rule: Rule) -> None:
    if not _CODE.fullmatch(rule.code):
        raise ValidationFailed.field("code", "Lower-case letters, digits and _ (at most 64).")
    facts = FACTS[rule_set]
    if rule.fact not in facts:
        raise ValidationFailed.field("fact", f"Unknown fact; one of: {', '.join(sorted(facts))}.")
    if rule.operator not in OPERATORS:
        raise ValidationFailed.field("operator", f"One of: {', '.join(OPERATORS)}.")
    if rule.operator not in _VALUELESS and not isinstance(rule.value, (int, float, str, bool)):
        raise ValidationFailed.field("value", "A comparison needs a number, text or boolean.")
