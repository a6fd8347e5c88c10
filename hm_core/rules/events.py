"""Rule configuration events. Stream: ("rule_set", one id per tenant and rule set).

A close-gate rule decides whether a clinician may close a visit, so a tenant switching one off
or adding one is a fact the auditor must find on the tenant's chain, like a clinical fact.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hm_core.events.base import DomainEvent


class RuleDefined(DomainEvent):
    """A tenant admin defined a rule (a new code, or a default's code to change or disable it)."""

    event_type: ClassVar[str] = "rule.defined"
    rule_set: str
    code: str
    fact: str
    operator: str
    value: Any = None
    message: str = ""
    enabled: bool = True
    order: int = 100

    def summary(self) -> str:
        state = "on" if self.enabled else "off"
        return f"Rule {self.rule_set}:{self.code} defined ({self.fact} {self.operator}, {state})"
