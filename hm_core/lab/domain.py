"""Laboratory decisions — pure Python, no Django.

Samples (one per specimen type of a LAB order; a rejected one is replaced by a recollection):

    PENDING → RECEIVED (barcode, received_at);  PENDING | RECEIVED → REJECTED (reason);
    PENDING → CANCELLED (every item it was for was cancelled)

A received sample may still be rejected (haemolysed, clotted) until a result of one of its items
is entered: after that the specimen has been used and a problem is fixed by correcting results.

Results (one per order item; `versions` counts the reported versions, v1 as entered):

    ENTERED (v1) → VERIFIED → RELEASED → CORRECTED (v2) → CORRECTED (v3) ...

Verification needs a second person (403 `same_user_verification`); only a verified result is
released; only a released or corrected result is corrected, by a new immutable version that
supersedes the previous one. A value at or beyond a critical limit makes the version critical
whatever the client said (`analytes.flag` documents the edges).

An outside laboratory's final result (HL7 ORU^R01) is entered, verified by that laboratory (the
four-eyes rule is for people inside hm_core) and released in one go: flagged, alerted, gated.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hm_core.common.errors import Forbidden, InvalidTransition, ValidationFailed
from hm_core.lab.analytes import any_critical
from hm_core.lab.errors import ResultAlreadyReported, SameUserVerification
from hm_core.lab.events import (
    AnalyteValue,
    LabResultEvent,
    ResultCorrected,
    ResultEntered,
    ResultReleased,
    ResultVerified,
    SampleCancelled,
    SampleCreated,
    SampleReceived,
    SampleRejected,
)
from hm_core.orders.events import ITEM_COLLECTED, ITEM_ORDERED, ITEM_RESULTED

PENDING, RECEIVED, REJECTED, CANCELLED = "PENDING", "RECEIVED", "REJECTED", "CANCELLED"
SAMPLE_STATUSES = (PENDING, RECEIVED, REJECTED, CANCELLED)
ENTERED, VERIFIED, RELEASED, CORRECTED = "ENTERED", "VERIFIED", "RELEASED", "CORRECTED"
RESULT_STATUSES = (ENTERED, VERIFIED, RELEASED, CORRECTED)
LAB_ORDER = "LAB"
# A result can be entered for an item still waiting for it (the orders module's vocabulary).
ENTERABLE_ITEMS = (ITEM_ORDERED, ITEM_COLLECTED)
UNSPECIFIED_SPECIMEN = "unspecified"
REASON_MAX_LENGTH = 500


@dataclass(frozen=True)
class SampleState:
    sample_id: uuid.UUID
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    specimen_type: str
    status: str
    version: int
    item_ids: tuple[uuid.UUID, ...]
    service_codes: tuple[str, ...]

    def refs(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "order_id": self.order_id,
            "encounter_id": self.encounter_id,
            "patient_id": self.patient_id,
        }


@dataclass(frozen=True)
class PlannedItem:
    """An ordered lab item: what a specimen is collected for."""

    item_id: uuid.UUID
    service_code: str
    specimen_type: str


@dataclass(frozen=True)
class SampleGroup:
    specimen_type: str
    item_ids: tuple[uuid.UUID, ...]
    service_codes: tuple[str, ...]


def _require(status: str, *allowed: str, action: str, what: str) -> None:
    if status not in allowed:
        raise InvalidTransition(
            f"Cannot {action} a {what} that is {status}.",
            details={"from": status, "action": action, "allowed_from": list(allowed)},
        )


def _reason(reason: str, *, field: str = "reason") -> str:
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX_LENGTH:
        raise ValidationFailed.field(field, f"a reason of 1-{REASON_MAX_LENGTH} characters")
    return reason


def plan_samples(items: Sequence[PlannedItem]) -> list[SampleGroup]:
    """One sample per specimen type, in the order the types first appear among the items."""
    groups: dict[str, list[PlannedItem]] = {}
    for item in items:
        groups.setdefault(item.specimen_type or UNSPECIFIED_SPECIMEN, []).append(item)
    return [
        SampleGroup(
            specimen_type=specimen,
            item_ids=tuple(i.item_id for i in members),
            service_codes=tuple(i.service_code for i in members),
        )
        for specimen, members in groups.items()
    ]


def create(
    *,
    sample_id: uuid.UUID,
    order_id: uuid.UUID,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    group: SampleGroup,
    replaces_sample_id: uuid.UUID | None = None,
) -> list[SampleCreated]:
    """A specimen is expected for the group's items (a recollection names what it replaces)."""
    if not group.item_ids:
        raise ValidationFailed.field("item_ids", "a sample is collected for at least one item")
    return [
        SampleCreated(
            sample_id=sample_id,
            order_id=order_id,
            encounter_id=encounter_id,
            patient_id=patient_id,
            specimen_type=group.specimen_type,
            item_ids=list(group.item_ids),
            service_codes=list(group.service_codes),
            replaces_sample_id=replaces_sample_id,
        )
    ]


def check_received_at(received_at: datetime, *, now: datetime) -> datetime:
    """Receipt time is a clinical fact: it needs a zone and cannot lie in the future."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValidationFailed.field("received_at", "must include a timezone")
    if received_at > now:
        raise ValidationFailed.field("received_at", "must not be in the future")
    return received_at


def receive(
    state: SampleState, *, barcode: str, received_at: datetime, now: datetime
) -> list[SampleReceived]:
    """PENDING → RECEIVED under a barcode (its uniqueness is the service's to check)."""
    _require(state.status, PENDING, action="receive", what="sample")
    check_received_at(received_at, now=now)
    if not barcode.strip():
        raise ValidationFailed.field("barcode", "is required")
    return [
        SampleReceived(
            **state.refs(),
            barcode=barcode.strip(),
            received_at=received_at,
            item_ids=list(state.item_ids),
        )
    ]


def reject(state: SampleState, *, reason: str, has_results: bool) -> list[SampleRejected]:
    """PENDING | RECEIVED → REJECTED, unless a result was already entered from the specimen."""
    _require(state.status, PENDING, RECEIVED, action="reject", what="sample")
    if has_results:
        raise InvalidTransition(
            "Cannot reject a sample some of whose results are entered; correct the results.",
            details={"from": state.status, "action": "reject", "has_results": True},
        )
    return [SampleRejected(**state.refs(), reason=_reason(reason), item_ids=list(state.item_ids))]


def cancel_if_unneeded(
    state: SampleState, *, cancelled_item_ids: set[uuid.UUID], reason: str
) -> list[SampleCancelled]:
    """A pending sample whose every item is cancelled is no longer needed; else nothing."""
    if state.status != PENDING or not set(state.item_ids) <= cancelled_item_ids:
        return []
    return [SampleCancelled(**state.refs(), reason=reason)]


@dataclass(frozen=True)
class ItemFacts:
    """What result entry is decided on: the order item, its current sample, its result."""

    item_id: uuid.UUID
    order_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    service_code: str
    item_status: str
    sample_id: uuid.UUID | None
    sample_status: str | None
    result_id: uuid.UUID | None


def check_enterable(item: ItemFacts) -> uuid.UUID:
    """An item takes a result once, while not cancelled, and only from a received sample
    (whose id is returned)."""
    action = "enter a result for"
    if item.result_id is not None:
        raise InvalidTransition(
            "This order item already has a result; correct it instead.",
            details={"from": ITEM_RESULTED, "action": action, "result_id": str(item.result_id)},
        )
    _require(item.item_status, *ENTERABLE_ITEMS, action=action, what="order item")
    if item.sample_id is None or item.sample_status != RECEIVED:
        raise InvalidTransition(
            "The item's sample has not been received.",
            details={
                "from": item.sample_status,
                "action": action,
                "sample_id": str(item.sample_id) if item.sample_id else None,
            },
        )
    return item.sample_id


def enter(
    item: ItemFacts,
    *,
    result_id: uuid.UUID,
    values: list[AnalyteValue],
    client_critical: bool,
    comment: str,
) -> list[ResultEntered]:
    """Version 1 of an item's result; a critical value makes it critical whatever was sent."""
    sample_id = check_enterable(item)
    return [
        ResultEntered(
            result_id=result_id,
            order_id=item.order_id,
            order_item_id=item.item_id,
            sample_id=sample_id,
            encounter_id=item.encounter_id,
            patient_id=item.patient_id,
            service_code=item.service_code,
            version=1,
            values=values,
            is_critical=client_critical or any_critical(values),
            comment=comment,
        )
    ]


@dataclass(frozen=True)
class ResultState:
    result_id: uuid.UUID
    order_id: uuid.UUID
    order_item_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    service_code: str
    status: str
    version: int
    versions: int
    values: tuple[AnalyteValue, ...]
    is_critical: bool
    entered_by_id: uuid.UUID | None

    def refs(self) -> dict[str, Any]:
        """The ids every result event carries, and the number of the current version."""
        return {
            "result_id": self.result_id,
            "order_id": self.order_id,
            "order_item_id": self.order_item_id,
            "encounter_id": self.encounter_id,
            "patient_id": self.patient_id,
            "service_code": self.service_code,
            "version": self.versions,
        }


def verify(state: ResultState, *, user_id: uuid.UUID | None) -> list[ResultVerified]:
    """ENTERED → VERIFIED by a second person (the four-eyes rule)."""
    _require(state.status, ENTERED, action="verify", what="result")
    if user_id is None:
        raise Forbidden("Only a signed-in person can verify a result.")
    if user_id == state.entered_by_id:
        raise SameUserVerification()
    return [ResultVerified(**state.refs())]


def release(state: ResultState) -> list[ResultReleased]:
    """VERIFIED → RELEASED to the clinicians, with the values and criticality they will see."""
    _require(state.status, VERIFIED, action="release", what="result")
    return [
        ResultReleased(**state.refs(), values=list(state.values), is_critical=state.is_critical)
    ]


def check_correctable(state: ResultState) -> None:
    """Only a result the clinicians have seen (released or corrected) is corrected."""
    _require(state.status, RELEASED, CORRECTED, action="correct", what="result")


def correct(
    state: ResultState,
    *,
    values: list[AnalyteValue],
    client_critical: bool,
    comment: str,
    reason: str,
) -> list[ResultCorrected]:
    """RELEASED | CORRECTED → a new CORRECTED version superseding the current one."""
    check_correctable(state)
    return [
        ResultCorrected(
            **{**state.refs(), "version": state.versions + 1},
            supersedes_version=state.versions,
            values=values,
            is_critical=client_critical or any_critical(values),
            comment=comment,
            reason=_reason(reason),
        )
    ]


def verify_external(state: ResultState, *, laboratory: str, verifier: str) -> list[ResultVerified]:
    """ENTERED → VERIFIED by the outside laboratory that reported the result (named)."""
    _require(state.status, ENTERED, action="verify", what="result")
    if not laboratory.strip():
        raise ValidationFailed.field("laboratory", "the reporting laboratory is required")
    return [
        ResultVerified(
            **state.refs(),
            external_laboratory=laboratory.strip()[:150],
            external_verifier=verifier.strip()[:150],
        )
    ]


def _entered_state(event: ResultEntered) -> ResultState:
    return ResultState(
        result_id=event.result_id,
        order_id=event.order_id,
        order_item_id=event.order_item_id,
        encounter_id=event.encounter_id,
        patient_id=event.patient_id,
        service_code=event.service_code,
        status=ENTERED,
        version=1,
        versions=1,
        values=tuple(event.values),
        is_critical=event.is_critical,
        entered_by_id=None,
    )


def finalise_external(
    state: ResultState, *, laboratory: str, verifier: str
) -> list[LabResultEvent]:
    """An entered result verified by its outside laboratory and released at once."""
    verified = verify_external(state, laboratory=laboratory, verifier=verifier)
    return [*verified, *release(replace(state, status=VERIFIED))]


def accept_final(
    item: ItemFacts,
    *,
    result_id: uuid.UUID,
    values: list[AnalyteValue],
    client_critical: bool,
    comment: str,
    laboratory: str,
    verifier: str,
) -> list[LabResultEvent]:
    """An outside laboratory's final result: entered, verified by it and released."""
    entered = enter(
        item, result_id=result_id, values=values, client_critical=client_critical, comment=comment
    )
    state = _entered_state(entered[0])
    return [*entered, *finalise_external(state, laboratory=laboratory, verifier=verifier)]


def check_final_matches(state: ResultState, *, values: list[AnalyteValue]) -> None:
    """The final report of a result entered as preliminary is accepted only when nothing
    changed: before release no version can supersede the entered one (409 `duplicate_result`)."""
    if state.status != ENTERED or list(state.values) != values:
        raise ResultAlreadyReported(
            details={"from": state.status, "result_id": str(state.result_id)}
        )
