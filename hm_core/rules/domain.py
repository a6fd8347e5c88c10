"""A small, data-driven rules engine — pure Python.

A rule compares one named fact with a value: `vitals_recorded is_true`, `open_critical_alerts
eq 0`, `latest_news2 lte 4`. Facts come from the caller (e.g. the encounter's close-gate facts);
a rule over a fact the caller does not know fails, so a mistyped rule blocks rather than passes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
