"""Laboratory write use-cases on results: enter, verify, release, correct."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction

from hm_core.catalog.selectors import ServiceSpec, service_by_code
from hm_core.common.db import violates
from hm_core.common.errors import InvalidTransition, NotFound, ValidationFailed
from hm_core.common.scope import Scope, scope_active
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.lab import analytes, domain
from hm_core.lab.events import AnalyteValue
from hm_core.lab.models import RESULT_PER_ITEM_CONSTRAINT, LabResult
from hm_core.lab.selectors import (
    lab_result_for_item,
    lab_result_get,
    sample_for_item,
)
from hm_core.orders.events import ITEM_RESULTED
from hm_core.orders.selectors import order_get, order_item_get

RESULT_STREAM = "lab_result"
ResultDecision = Callable[[domain.ResultState], list[DomainEvent]]


@contextmanager
def one_result_per_item() -> Iterator[None]:
    """Turn a second result for one order item (a lost race) into 409 `invalid_transition`."""
    try:
        yield
    except IntegrityError as exc:
        if violates(
            exc, constraint=RESULT_PER_ITEM_CONSTRAINT, columns=("tenant_id", "order_item_id")
        ):
            raise InvalidTransition(
                "This order item already has a result; correct it instead.",
                details={"from": ITEM_RESULTED, "action": "enter a result for"},
            ) from exc
        raise


def catalog_spec(scope: Scope, service_code: str) -> ServiceSpec:
    spec = service_by_code(tenant_id=scope.tenant_id, code=service_code)
    if spec is None or not spec.analytes:
        raise ValidationFailed.field(
            "order_item_id", f"{service_code} has no active catalog entry with analytes"
        )
    return spec


def item_facts(scope: Scope, order_item_id: uuid.UUID) -> domain.ItemFacts:
    """The order item (of a LAB order of this facility, else 404), its sample and result."""
    item = order_item_get(scope=scope, item_id=order_item_id)
    if order_get(scope=scope, order_id=item.order_id).order_type != domain.LAB_ORDER:
        raise NotFound(details={"resource": "order_item"})
    sample = sample_for_item(scope=scope, order_id=item.order_id, item_id=item.id)
    result = lab_result_for_item(scope=scope, item_id=item.id)
    return domain.ItemFacts(
        item_id=item.id,
        order_id=item.order_id,
        encounter_id=item.encounter_id,
        patient_id=item.patient_id,
        service_code=item.service_code,
        item_status=item.status,
        sample_id=sample.id if sample else None,
        sample_status=sample.status if sample else None,
        result_id=result.id if result else None,
    )


def lab_result_enter(
    *,
    scope: Scope,
    order_item_id: uuid.UUID,
    result_payload: dict[str, Any],
    is_critical: bool,
) -> LabResult:
    """Enter version 1 of an order item's result from its received sample (ENTERED)."""
    scope.require("results.enter")
    with scope_active(scope), one_result_per_item(), transaction.atomic():
        facts = item_facts(scope, order_item_id)
        result_id = uuid.uuid4()
        domain.check_enterable(facts)  # a state conflict (409) before the payload's content (422)
        values, comment = analytes.normalise(
            result_payload, service=catalog_spec(scope, facts.service_code)
        )
        events = domain.enter(
            facts, result_id=result_id, values=values, client_critical=is_critical, comment=comment
        )
        publish(
            scope=scope,
            stream=StreamRef(RESULT_STREAM, result_id),
            expected_version=0,
            events=events,
        )
        return lab_result_get(scope=scope, result_id=result_id)


def result_state(result: LabResult) -> domain.ResultState:
    return domain.ResultState(
        result_id=result.id,
        order_id=result.order_id,
        order_item_id=result.order_item_id,
        encounter_id=result.encounter_id,
        patient_id=result.patient_id,
        service_code=result.service_code,
        status=result.status,
        version=result.version,
        versions=result.versions,
        values=tuple(AnalyteValue.model_validate(v) for v in result.values),
        is_critical=result.is_critical,
        entered_by_id=result.entered_by_id,
    )


def _result_transition(
    *,
    scope: Scope,
    permission: str,
    result_id: uuid.UUID,
    expected_version: int | None,
    decide: ResultDecision,
) -> LabResult:
    """Load, check If-Match, decide, publish at the loaded version (a lost race is 409)."""
    return run_command(
        scope=scope,
        permission=permission,
        stream_type=RESULT_STREAM,
        load=lambda: lab_result_get(scope=scope, result_id=result_id),
        decide=lambda result: decide(result_state(result)),
        expected_version=expected_version,
    )


def lab_result_verify(
    *, scope: Scope, result_id: uuid.UUID, expected_version: int | None = None
) -> LabResult:
    """ENTERED → VERIFIED, by someone other than the person who entered it."""
    user_id = scope.principal.user_id
    return _result_transition(
        scope=scope,
        permission="results.verify",
        result_id=result_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.verify(s, user_id=user_id)),
    )


def lab_result_release(
    *, scope: Scope, result_id: uuid.UUID, expected_version: int | None = None
) -> LabResult:
    """VERIFIED → RELEASED to the clinicians (a critical one raises an alert)."""
    return _result_transition(
        scope=scope,
        permission="results.release",
        result_id=result_id,
        expected_version=expected_version,
        decide=lambda s: list(domain.release(s)),
    )


def lab_result_correct(
    *,
    scope: Scope,
    result_id: uuid.UUID,
    result_payload: dict[str, Any],
    reason: str,
    is_critical: bool = False,
    expected_version: int | None = None,
) -> LabResult:
    """RELEASED | CORRECTED → a new CORRECTED version; the superseded one stays unchanged."""

    def decide(state: domain.ResultState) -> list[DomainEvent]:
        domain.check_correctable(state)  # a state conflict (409) before the payload's content
        values, comment = analytes.normalise(
            result_payload, service=catalog_spec(scope, state.service_code)
        )
        return list(
            domain.correct(
                state, values=values, client_critical=is_critical, comment=comment, reason=reason
            )
        )

    return _result_transition(
        scope=scope,
        permission="results.correct",
        result_id=result_id,
        expected_version=expected_version,
        decide=decide,
    )
