"""Report projections: narrow fact rows from the events of encounters, scheduling, orders,
the laboratory and billing. Replayable (keyed on ids the events carry, times from the events).

Scheduling events are subscribed to by their agreed type strings, so this module does not
import that module: until it is installed those subscriptions simply never fire.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Case, F, Value, When

from hm_core.billing.events import (
    ChargePosted,
    ChargeReversed,
    ClaimAdjudicated,
    ClaimCreated,
    ClaimSubmitted,
    PaymentRecorded,
)
from hm_core.encounters.events import (
    ConsultStarted,
    EncounterCancelled,
    EncounterCheckedIn,
    EncounterClosed,
    EncounterCreated,
)
from hm_core.events.base import DomainEvent, EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import insert, update, upsert
from hm_core.lab.events import ResultReleased
from hm_core.orders.events import OrderPlaced
from hm_core.reports.models import (
    LabTurnaround,
    OpdNoShow,
    OpdVisit,
    RevenueEncounterPayer,
    RevenueEntry,
)
from hm_core.reports.percentile import MinutesSince

rebuildable("reports", OpdVisit, OpdNoShow, LabTurnaround, RevenueEntry, RevenueEncounterPayer)

APPOINTMENT_CHECKED_IN = "appointment.checked_in"
APPOINTMENT_NO_SHOW = "appointment.marked_no_show"
PATIENT = "patient"


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    """The interval in minutes, or None while either end is unknown."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 60


# --- OPD ----------------------------------------------------------------------------------


@subscribe(EncounterCreated)
def opd_visit_apply_created(event: EncounterCreated, meta: EventMeta) -> None:
    """A visit counts from its creation, on its scheduled day until the patient checks in."""
    _visit_upsert(meta, event.encounter_id, status="SCHEDULED", scheduled_at=event.scheduled_at,
                  at=event.scheduled_at)  # fmt: skip


@subscribe(EncounterCheckedIn)
def opd_visit_apply_checked_in(event: EncounterCheckedIn, meta: EventMeta) -> None:
    """From check-in on, the visit belongs to the day the patient arrived."""
    _visit_upsert(meta, event.encounter_id, status="CHECKED_IN", checked_in_at=meta.occurred_at,
                  at=meta.occurred_at)  # fmt: skip


@subscribe(ConsultStarted)
def opd_visit_apply_consult_started(event: ConsultStarted, meta: EventMeta) -> None:
    """The wait ends; the clinician who starts is the practitioner unless an appointment said.

    The interval is computed by the database from the stored check-in, in the same queued
    statement: no read in the middle of the command."""
    update(
        _visits(meta, event.encounter_id),
        status="IN_CONSULT",
        consult_started_at=meta.occurred_at,
        wait_minutes=MinutesSince("checked_in_at", meta.occurred_at),
        practitioner_id=Case(
            When(practitioner_from_appointment=False, then=Value(meta.actor_id)),
            default=F("practitioner_id"),
        ),
    )


@subscribe(EncounterClosed)
def opd_visit_apply_closed(event: EncounterClosed, meta: EventMeta) -> None:
    """The visit's length runs from check-in to close."""
    update(
        _visits(meta, event.encounter_id),
        status="CLOSED",
        closed_at=meta.occurred_at,
        visit_minutes=MinutesSince("checked_in_at", meta.occurred_at),
    )


@subscribe(EncounterCancelled)
def opd_visit_apply_cancelled(event: EncounterCancelled, meta: EventMeta) -> None:
    """A cancelled visit still counts among the day's encounters, as cancelled."""
    update(_visits(meta, event.encounter_id), status="CANCELLED", cancelled_at=meta.occurred_at)


@subscribe(APPOINTMENT_CHECKED_IN)
def opd_visit_apply_appointment_checked_in(event: DomainEvent, meta: EventMeta) -> None:
    """A visit booked with a practitioner is that practitioner's, whoever starts the consult."""
    encounter_id = _uuid(_field(event, "encounter_id"))
    if encounter_id is None:
        return
    _visit_ensure(meta, encounter_id)
    update(
        _visits(meta, encounter_id),
        practitioner_id=_uuid(_field(event, "practitioner_id")),
        practitioner_from_appointment=True,
    )


@subscribe(APPOINTMENT_NO_SHOW)
def opd_no_show_apply_marked(event: DomainEvent, meta: EventMeta) -> None:
    """A no-show counts on the day and for the practitioner of the missed appointment."""
    upsert(
        OpdNoShow,
        appointment_id=_uuid(_field(event, "appointment_id")),
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "practitioner_id": _uuid(_field(event, "practitioner_id")),
            "at": _instant(_field(event, "start")) or meta.occurred_at,
        },
    )


def _visit_ensure(meta: EventMeta, encounter_id: uuid.UUID) -> None:
    insert(
        OpdVisit,
        OpdVisit(
            encounter_id=encounter_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            status="SCHEDULED",
        ),
    )


def _visit_upsert(meta: EventMeta, encounter_id: uuid.UUID, **fields: Any) -> None:
    upsert(
        OpdVisit,
        encounter_id=encounter_id,
        defaults={"tenant_id": meta.tenant_id, "facility_id": meta.facility_id, **fields},
    )


def _visits(meta: EventMeta, encounter_id: uuid.UUID) -> Any:
    return OpdVisit.all_tenants.filter(tenant_id=meta.tenant_id, encounter_id=encounter_id)


# --- Laboratory ---------------------------------------------------------------------------


@subscribe(OrderPlaced)
def lab_turnaround_apply_order_placed(event: OrderPlaced, meta: EventMeta) -> None:
    """Each test of a LAB order starts its turnaround clock when the order is placed."""
    if event.order_type != "LAB":
        return
    rows = [
        LabTurnaround(
            order_item_id=item.item_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            order_id=event.order_id,
            service_code=item.service_code,
            placed_at=meta.occurred_at,
        )
        for item in event.items
    ]
    insert(LabTurnaround, *rows)


@subscribe(ResultReleased)
def lab_turnaround_apply_released(event: ResultReleased, meta: EventMeta) -> None:
    """The first release stops the clock; a corrected result released later does not restart it."""
    item = LabTurnaround.all_tenants.filter(
        tenant_id=meta.tenant_id, order_item_id=event.order_item_id, released_at__isnull=True
    )
    placed = next(iter(item.values_list("placed_at", flat=True)), None)
    if placed is None:
        return
    update(
        item,
        released_at=meta.occurred_at,
        critical=event.is_critical,
        minutes=minutes_between(placed, meta.occurred_at),
    )


# --- Revenue ------------------------------------------------------------------------------


@subscribe(ChargePosted)
def revenue_apply_charge_posted(event: ChargePosted, meta: EventMeta) -> None:
    """Billed: the charge's amount, on the day it was posted."""
    _entry(
        meta,
        f"billed:{event.charge_id}",
        kind="billed",
        encounter_id=event.encounter_id,
        service_code=event.code,
        amount=(event.unit_price * event.quantity).quantize(Decimal("0.01")),
        currency=event.currency,
        at=meta.occurred_at,
    )


@subscribe(ChargeReversed)
def revenue_apply_charge_reversed(event: ChargeReversed, meta: EventMeta) -> None:
    """A reversed charge was never owed: its entry leaves the billed figures."""
    update(
        RevenueEntry.all_tenants.filter(tenant_id=meta.tenant_id, id=f"billed:{event.charge_id}"),
        kind="reversed",
    )


@subscribe(ClaimCreated)
def revenue_apply_claim_created(event: ClaimCreated, meta: EventMeta) -> None:
    """A claim's lines wait as drafts until it is submitted; its payer takes the encounter."""
    for line in event.lines:
        _entry(
            meta,
            f"claimed:{event.claim_id}:{line.line}",
            kind="drafted",
            claim_id=event.claim_id,
            encounter_id=event.encounter_id,
            service_code=line.service_code,
            amount=line.amount,
            currency=event.currency,
            at=meta.occurred_at,
        )
    if event.payer_id is not None:
        upsert(
            RevenueEncounterPayer,
            encounter_id=event.encounter_id,
            defaults={
                "tenant_id": meta.tenant_id,
                "facility_id": meta.facility_id,
                "payer": str(event.payer_id),
                "claim_id": event.claim_id,
            },
        )
        update(
            RevenueEntry.all_tenants.filter(
                tenant_id=meta.tenant_id, encounter_id=event.encounter_id
            ),
            payer=str(event.payer_id),
        )


@subscribe(ClaimSubmitted)
def revenue_apply_claim_submitted(event: ClaimSubmitted, meta: EventMeta) -> None:
    """Claimed: the claim's lines, on the day it was submitted."""
    update(
        _claim_lines(meta, event.claim_id).filter(kind="drafted"),
        kind="claimed",
        at=meta.occurred_at,
    )


@subscribe(ClaimAdjudicated)
def revenue_apply_claim_adjudicated(event: ClaimAdjudicated, meta: EventMeta) -> None:
    """Approved: each line's approved amount, on the day of the adjudication."""
    claimed = {
        row.id.rsplit(":", 1)[1]: row
        for row in _claim_lines(meta, event.claim_id).only(
            "id", "encounter_id", "service_code", "currency"
        )
    }
    for line in event.lines:
        source = claimed.get(str(line.line))
        _entry(
            meta,
            f"approved:{event.claim_id}:{line.line}",
            kind="approved",
            claim_id=event.claim_id,
            encounter_id=source.encounter_id if source else None,
            service_code=source.service_code if source else "",
            amount=line.approved_amount,
            currency=source.currency if source else "",
            at=meta.occurred_at,
        )


@subscribe(PaymentRecorded)
def revenue_apply_payment_recorded(event: PaymentRecorded, meta: EventMeta) -> None:
    """Paid: the payment, on the day it was recorded (against an invoice, not a service)."""
    _entry(
        meta,
        f"paid:{event.payment_id}",
        kind="paid",
        encounter_id=event.encounter_id,
        service_code="",
        amount=event.amount,
        currency=event.currency,
        at=meta.occurred_at,
    )


def _entry(meta: EventMeta, entry_id: str, **fields: Any) -> None:
    upsert(
        RevenueEntry,
        id=entry_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            # Charges precede any claim (claims need a final invoice): no lookup for them.
            "payer": PATIENT
            if fields["kind"] == "billed"
            else _payer_of(meta, fields["encounter_id"]),
            **fields,
        },
    )


def _payer_of(meta: EventMeta, encounter_id: uuid.UUID | None) -> str:
    """The payer of the encounter's claim so far, else the patient."""
    if encounter_id is None:
        return PATIENT
    found = RevenueEncounterPayer.all_tenants.filter(
        tenant_id=meta.tenant_id, encounter_id=encounter_id
    ).values_list("payer", flat=True)
    return next(iter(found), PATIENT)


def _claim_lines(meta: EventMeta, claim_id: uuid.UUID) -> Any:
    return RevenueEntry.all_tenants.filter(
        tenant_id=meta.tenant_id, claim_id=claim_id, id__startswith="claimed:"
    )


# --- Reading events of modules this one does not import ------------------------------------


def _field(obj: Any, name: str) -> Any:
    """A payload field of an event (or of a nested line) whose class this module never imports."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
