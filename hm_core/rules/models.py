"""The rules a tenant defined (read model of `rule.defined`); defaults live in rules.domain."""

from __future__ import annotations

import uuid

from django.db import models

from hm_core.rules.domain import OPERATORS


def rule_set_stream_id(tenant_id: uuid.UUID, rule_set: str) -> uuid.UUID:
    """One stream per tenant and rule set, named without a lookup."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hm-core:rule-set:{tenant_id}:{rule_set}")


def definition_id(stream_id: uuid.UUID, code: str) -> uuid.UUID:
    """The row of one code in one rule set: the same on every rebuild."""
    return uuid.uuid5(stream_id, code)


class RuleDefinition(models.Model):
    """One rule of one rule set (e.g. `encounter.close_gate`) of one tenant."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tenant_id = models.UUIDField()
    rule_set = models.CharField(max_length=64, default="encounter.close_gate")
    code = models.SlugField(max_length=64)
    fact = models.CharField(max_length=64)
    operator = models.CharField(max_length=8, choices=[(op, op) for op in OPERATORS])
    value = models.JSONField(null=True, blank=True)
    message = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "rule_set", "code"], name="rules_code_per_set_uniq"
            )
        ]
        indexes = [models.Index(fields=["tenant_id", "rule_set", "order"], name="rules_by_set")]

    def __str__(self) -> str:
        return f"{self.rule_set}:{self.code}"
