"""Rule sets for tenant administrators: see the close gate, switch a rule off, add one."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from hm_core.common.api import ERRORS, scope_of
from hm_core.common.errors import NotFound
from hm_core.rules import services
from hm_core.rules.domain import FACTS, Definition
from hm_core.rules.schemas import RuleIn, RuleOut, RuleSetOut
from hm_core.rules.selectors import rule_set_definitions

router = Router(tags=["rules"])


def _out(rule_set: str, definitions: list[Definition]) -> RuleSetOut:
    return RuleSetOut(rule_set=rule_set, rules=[RuleOut.of(d) for d in definitions])


@router.get("/{rule_set}/", response={200: RuleSetOut, **ERRORS})
def rule_set_view(request: HttpRequest, rule_set: str) -> RuleSetOut:
    """Every rule of the set (e.g. `encounter.close_gate`), on or off, defaults included."""
    scope = scope_of(request)
    scope.require("tenant.configure")
    if rule_set not in FACTS:
        raise NotFound(details={"resource": "rule_set"})
    return _out(rule_set, rule_set_definitions(tenant_id=scope.tenant_id, name=rule_set))


@router.put("/{rule_set}/{code}/", response={200: RuleSetOut, **ERRORS})
def rule_put(request: HttpRequest, rule_set: str, code: str, payload: RuleIn) -> RuleSetOut:
    """Define a rule; a default's code changes or (`enabled: false`) switches off the default."""
    definitions = services.rule_define(
        scope=scope_of(request), rule_set=rule_set, code=code, **payload.model_dump()
    )
    return _out(rule_set, definitions)
