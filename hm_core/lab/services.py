"""Laboratory write use-cases — samples (create, receive, reject, cancel) and results (enter,
verify, release, correct) — and the audited reads of results (patient data)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from hm_core.audit.services import phi_read_record
from hm_core.catalog.selectors import ServiceSpec, service_by_code
from hm_core.common.db import violates
from hm_core.common.errors import InvalidTransition, NotFound, ValidationFailed
from hm_core.common.pagination import paginate
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.lab import analytes, domain
from hm_core.lab.errors import DuplicateBarcode
from hm_core.lab.events import AnalyteValue
from hm_core.lab.models import BARCODE_CONSTRAINT, RESULT_PER_ITEM_CONSTRAINT, LabResult, Sample
from hm_core.lab.selectors import (
    ResultFilters,
    lab_result_for_item,
    lab_result_get,
    lab_result_list,
    lab_result_versions,
    sample_barcode_taken,
    sample_for_item,
    sample_get,
    sample_has_results,
)
from hm_core.orders.selectors import order_get, order_item_get

SAMPLE_STREAM, RESULT_STREAM = "sample", "lab_result"
ResultDecision = Callable[[domain.ResultState], list[DomainEvent]]


@contextmanager
def _unique_barcode() -> Iterator[None]:
    """Turn the database's unique-barcode violation (a lost race) into 409 `duplicate_barcode`."""
    try:
        yield
    except IntegrityError as exc:
        if violates(
            exc, constraint=BARCODE_CONSTRAINT, columns=("tenant_id", "facility_id", "barcode")
        ):
            raise DuplicateBarcode() from exc
        raise


@contextmanager
def _one_result_per_item() -> Iterator[None]:
    """Turn a second result for one order item (a lost race) into 409 `invalid_transition`."""
    try:
        yield
    except IntegrityError as exc:
        if violates(
            exc, constraint=RESULT_PER_ITEM_CONSTRAINT, columns=("tenant_id", "order_item_id")
        ):
            raise InvalidTransition(
                "This order item already has a result; correct it instead.",
                details={"from": domain.ITEM_RESULTED, "action": "enter a result for"},
            ) from exc
        raise


def sample_state(sample: Sample) -> domain.SampleState:
    return domain.SampleState(
        sample_id=sample.id,
        order_id=sample.order_id,
        encounter_id=sample.encounter_id,
        patient_id=sample.patient_id,
        specimen_type=sample.specimen_type,
        status=sample.status,
        version=sample.version,
        item_ids=tuple(uuid.UUID(raw) for raw in sample.item_ids),
        service_codes=tuple(sample.service_codes),
    )


@transaction.atomic
def sample_create(
    *,
    scope: Scope,
    order_id: uuid.UUID,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    group: domain.SampleGroup,
    replaces_sample_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Expect one specimen for a group of lab items (the workflow's call: order or rejection)."""
    sample_id = uuid.uuid4()
    events = domain.create(
        sample_id=sample_id,
        order_id=order_id,
        encounter_id=encounter_id,
        patient_id=patient_id,
        group=group,
        replaces_sample_id=replaces_sample_id,
    )
    publish(
        scope=scope, stream=StreamRef(SAMPLE_STREAM, sample_id), expected_version=0, events=events
    )
    return sample_id


def sample_receive(
    *,
    scope: Scope,
    sample_id: uuid.UUID,
    barcode: str,
    received_at: datetime,
    expected_version: int | None = None,
) -> Sample:
    """PENDING → RECEIVED; the barcode is unique per facility (checked, and by the database)."""

    def decide(sample: Sample) -> list[DomainEvent]:
        events = domain.receive(
            sample_state(sample), barcode=barcode, received_at=received_at, now=utcnow()
        )
        if sample_barcode_taken(scope=scope, barcode=barcode.strip(), exclude=sample.id):
            raise DuplicateBarcode(details={"barcode": barcode.strip()})
        return list(events)

    with _unique_barcode():
        return run_command(
            scope=scope,
            permission="samples.receive",
            stream_type=SAMPLE_STREAM,
            load=lambda: sample_get(scope=scope, sample_id=sample_id),
            decide=decide,
            expected_version=expected_version,
        )


def sample_reject(
    *, scope: Scope, sample_id: uuid.UUID, reason: str, expected_version: int | None = None
) -> Sample:
    """PENDING | RECEIVED → REJECTED; the workflow asks for a recollection."""

    def decide(sample: Sample) -> list[DomainEvent]:
        has_results = sample_has_results(scope=scope, sample=sample)
        return list(domain.reject(sample_state(sample), reason=reason, has_results=has_results))

    return run_command(
        scope=scope,
        permission="samples.reject",
        stream_type=SAMPLE_STREAM,
        load=lambda: sample_get(scope=scope, sample_id=sample_id),
        decide=decide,
        expected_version=expected_version,
    )


def sample_cancel_if_unneeded(
    *, scope: Scope, sample_id: uuid.UUID, cancelled_item_ids: set[uuid.UUID], reason: str
) -> Sample:
    """Cancel a pending sample whose every item is cancelled (the workflow's call, as a
    consequence of cancelling the order: hence the order's permission)."""
    return run_command(
        scope=scope,
        permission="orders.cancel",
        stream_type=SAMPLE_STREAM,
        load=lambda: sample_get(scope=scope, sample_id=sample_id),
        decide=lambda sample: domain.cancel_if_unneeded(
            sample_state(sample), cancelled_item_ids=cancelled_item_ids, reason=reason
        ),
        expected_version=None,
    )


def _catalog_spec(scope: Scope, service_code: str) -> ServiceSpec:
    spec = service_by_code(tenant_id=scope.tenant_id, code=service_code)
    if spec is None or not spec.analytes:
        raise ValidationFailed.field(
            "order_item_id", f"{service_code} has no active catalog entry with analytes"
        )
    return spec


def _item_facts(scope: Scope, order_item_id: uuid.UUID) -> domain.ItemFacts:
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
    with scope_active(scope), _one_result_per_item(), transaction.atomic():
        facts = _item_facts(scope, order_item_id)
        result_id = uuid.uuid4()
        domain.check_enterable(facts)  # a state conflict (409) before the payload's content (422)
        values, comment = analytes.normalise(
            result_payload, service=_catalog_spec(scope, facts.service_code)
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
            result_payload, service=_catalog_spec(scope, state.service_code)
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


def _audit_detail(result: LabResult) -> dict[str, Any]:
    return {
        "result_id": str(result.id),
        "encounter_id": str(result.encounter_id),
        "service_code": result.service_code,
        "version": result.versions,
    }


def lab_result_view(*, scope: Scope, result_id: uuid.UUID) -> LabResult:
    """Read a result's current version (patient data): the read is audited."""
    scope.require("results.view")
    with scope_active(scope):
        result = lab_result_get(scope=scope, result_id=result_id)
        phi_read_record(
            scope=scope,
            patient_id=result.patient_id,
            action="lab_result.viewed",
            detail=_audit_detail(result),
        )
        return result


def lab_result_versions_view(
    *, scope: Scope, result_id: uuid.UUID, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a result's versions, oldest first: the read is audited."""
    scope.require("results.view")
    with scope_active(scope):
        result = lab_result_get(scope=scope, result_id=result_id)
        page = paginate(
            lab_result_versions(scope=scope, result_id=result_id), limit=limit, offset=offset
        )
        phi_read_record(
            scope=scope,
            patient_id=result.patient_id,
            action="lab_result.versions_viewed",
            detail={**_audit_detail(result), "versions": [v.version for v in page["items"]]},
        )
        return page


def lab_result_list_view(
    *, scope: Scope, filters: ResultFilters, limit: int, offset: int
) -> dict[str, Any]:
    """One page of results with their values: one audit record per patient on the page."""
    scope.require("results.view")
    with scope_active(scope):
        page = paginate(lab_result_list(scope=scope, filters=filters), limit=limit, offset=offset)
        by_patient: dict[uuid.UUID, list[str]] = {}
        for result in page["items"]:
            by_patient.setdefault(result.patient_id, []).append(str(result.id))
        for patient_id, result_ids in by_patient.items():
            phi_read_record(
                scope=scope,
                patient_id=patient_id,
                action="lab_result.listed",
                detail={"result_ids": result_ids},
            )
        return page
