"""Rule definitions per tenant, edited in the admin (tenant configuration)."""

from __future__ import annotations

import uuid

from django.db import models

from hm_core.rules.domain import OPERATORS


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
