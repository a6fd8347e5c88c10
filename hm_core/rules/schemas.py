"""Rule schemas: one rule of a rule set, as a tenant admin writes and reads it."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from hm_core.common.schemas import InputSchema
from hm_core.rules.domain import Definition


class RuleIn(InputSchema):
    fact: str = Field(min_length=1, max_length=64)
    operator: Literal["is_true", "is_false", "eq", "ne", "gt", "gte", "lt", "lte"]
    value: int | float | str | bool | None = None
    message: str = Field("", max_length=200)
    enabled: bool = True
    order: int = Field(100, ge=0, le=32767)


class RuleOut(Schema):
    code: str
    fact: str
    operator: str
    value: Any = None
    message: str
    enabled: bool
    order: int
    source: Literal["default", "tenant"]

    @staticmethod
    def of(definition: Definition) -> RuleOut:
        rule = definition.rule
        return RuleOut(
            code=rule.code,
            fact=rule.fact,
            operator=rule.operator,
            value=rule.value,
            message=rule.message,
            enabled=definition.enabled,
            order=definition.order,
            source=definition.source,  # type: ignore[arg-type]
        )


class RuleSetOut(Schema):
    rule_set: str
    rules: list[RuleOut]
