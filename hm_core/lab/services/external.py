"""Results reported by an outside laboratory (HL7 ORU^R01): the same lab commands, in one go.

Sample handling: a LAB order expects its specimen here, but an outside laboratory may have
drawn or received it itself, so its report may arrive for a sample still `PENDING`. Rather than
loosen `domain.check_enterable` (results come only from a received specimen), the command
receives that sample implicitly — a `lab.sample_received` event under the barcode
`EXT-<sample id>`, by the same actor, in the same transaction — so the specimen's history
stays truthful (it was received, by someone else) and its collection task is closed by the
usual workflow. This is part of entering the result: it needs `results.enter`, not
`samples.receive`.

Report statuses (OBX-11, the least final of an item's observations):
- `F` final → entered, verified by the reporting laboratory and released (critical values
  flagged, alerted and gated exactly as §7); when a preliminary report of it was entered
  before, the final verifies and releases it if its values are unchanged, else 409
  `duplicate_result` (nothing can supersede an entered, unreleased version).
- `P` preliminary → entered (`ENTERED`); a second report of an item that has one: 409.
- `C` corrected → a new `CORRECTED` version of the released result (`lab_result_correct`'s
  decision; a result that is not released yet: 409 `invalid_transition`, none: 404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from hm_core.common.errors import NotFound
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.lab import analytes, domain
from hm_core.lab.errors import ResultAlreadyReported
from hm_core.lab.events import AnalyteValue
from hm_core.lab.models import LabResult
from hm_core.lab.selectors import lab_result_for_item, lab_result_get, sample_get
from hm_core.lab.services.results import (
    RESULT_STREAM,
    catalog_spec,
    item_facts,
    one_result_per_item,
    result_state,
)
from hm_core.lab.services.samples import SAMPLE_STREAM, sample_state

FINAL, PRELIMINARY, CORRECTED = "F", "P", "C"
PERMISSIONS = {
    FINAL: ("results.enter", "results.verify", "results.release"),
    PRELIMINARY: ("results.enter",),
    CORRECTED: ("results.correct",),
}


@dataclass(frozen=True)
class ExternalReport:
    """Who reported a result from outside hm_core, and what it said beside the values."""

    laboratory: str  # the sending laboratory (HL7 MSH-4/MSH-3 or the channel)
    verifier: str = ""  # the person who verified it there (OBX-16), when named
    flags: dict[str, str] = field(default_factory=dict)  # analyte code → its flag (OBX-8)
    ranges: dict[str, str] = field(default_factory=dict)  # analyte code → its range (OBX-7)
    critical: bool = False  # the laboratory called it critical (OBX-8 `AA`)


def lab_result_accept_external(
    *,
    scope: Scope,
    order_item_id: uuid.UUID,
    result_payload: dict[str, Any],
    status: str,
    report: ExternalReport,
) -> LabResult:
    """An outside laboratory's final, preliminary or corrected result for one order item."""
    for permission in PERMISSIONS[status]:
        scope.require(permission)
    with scope_active(scope), one_result_per_item(), transaction.atomic():
        existing = lab_result_for_item(scope=scope, item_id=order_item_id)
        if status == CORRECTED:
            if existing is None:
                raise NotFound("No result to correct.", details={"resource": "lab_result"})
            return _correct(scope, existing, result_payload, report)
        if existing is not None:
            return _finalise(scope, existing, result_payload, status, report)
        return _enter(scope, order_item_id, result_payload, status, report)


def _values(
    scope: Scope, service_code: str, payload: dict[str, Any], report: ExternalReport
) -> tuple[list[AnalyteValue], str]:
    values, comment = analytes.normalise(payload, service=catalog_spec(scope, service_code))
    merged = analytes.with_reported_flags(values, flags=report.flags, ranges=report.ranges)
    return merged, comment


def _enter(
    scope: Scope,
    order_item_id: uuid.UUID,
    payload: dict[str, Any],
    status: str,
    report: ExternalReport,
) -> LabResult:
    _receive_implicitly(scope, order_item_id)
    facts = item_facts(scope, order_item_id)
    domain.check_enterable(facts)  # a state conflict (409) before the payload's content (422)
    values, comment = _values(scope, facts.service_code, payload, report)
    result_id = uuid.uuid4()
    events = _decide(facts, result_id, values, comment, final=status == FINAL, report=report)
    stream = StreamRef(RESULT_STREAM, result_id)
    publish(scope=scope, stream=stream, expected_version=0, events=events)
    return lab_result_get(scope=scope, result_id=result_id)


def _decide(
    facts: domain.ItemFacts,
    result_id: uuid.UUID,
    values: list[AnalyteValue],
    comment: str,
    *,
    final: bool,
    report: ExternalReport,
) -> list[DomainEvent]:
    """A final report is entered, verified by the laboratory and released at once; a
    preliminary one is entered only."""
    if not final:
        return list(
            domain.enter(
                facts,
                result_id=result_id,
                values=values,
                client_critical=report.critical,
                comment=comment,
            )
        )
    return list(
        domain.accept_final(
            facts,
            result_id=result_id,
            values=values,
            client_critical=report.critical,
            comment=comment,
            laboratory=report.laboratory,
            verifier=report.verifier,
        )
    )


def _receive_implicitly(scope: Scope, order_item_id: uuid.UUID) -> None:
    """The item's sample, still pending here, was received by the reporting laboratory."""
    facts = item_facts(scope, order_item_id)
    if facts.sample_id is None or facts.sample_status != domain.PENDING:
        return
    sample = sample_get(scope=scope, sample_id=facts.sample_id)
    now = utcnow()
    events = domain.receive(
        sample_state(sample), barcode=f"EXT-{sample.id.hex[:16].upper()}", received_at=now, now=now
    )
    stream = StreamRef(SAMPLE_STREAM, sample.id)
    publish(scope=scope, stream=stream, expected_version=sample.version, events=list(events))


def _finalise(
    scope: Scope, existing: LabResult, payload: dict[str, Any], status: str, report: ExternalReport
) -> LabResult:
    """The final report of a preliminary result: verified and released if unchanged."""
    state = result_state(existing)
    if status != FINAL:
        raise ResultAlreadyReported(details={"from": state.status, "result_id": str(existing.id)})
    values, _ = _values(scope, state.service_code, payload, report)
    domain.check_final_matches(state, values=values)
    events = domain.finalise_external(state, laboratory=report.laboratory, verifier=report.verifier)
    stream = StreamRef(RESULT_STREAM, existing.id)
    publish(scope=scope, stream=stream, expected_version=existing.version, events=list(events))
    return lab_result_get(scope=scope, result_id=existing.id)


def _correct(
    scope: Scope, existing: LabResult, payload: dict[str, Any], report: ExternalReport
) -> LabResult:
    """A new CORRECTED version, the laboratory's flags kept beside the catalog's."""

    def decide(state: domain.ResultState) -> list[DomainEvent]:
        domain.check_correctable(state)  # a state conflict (409) before the payload's content
        values, comment = _values(scope, state.service_code, payload, report)
        reason = f"Corrected by the reporting laboratory ({report.laboratory})"
        corrected = domain.correct(
            state, values=values, client_critical=report.critical, comment=comment, reason=reason
        )
        return list(corrected)

    return run_command(
        scope=scope,
        permission="results.correct",
        stream_type=RESULT_STREAM,
        load=lambda: lab_result_get(scope=scope, result_id=existing.id),
        decide=lambda result: decide(result_state(result)),
        expected_version=None,
    )
