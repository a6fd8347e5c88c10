"""Report projections: narrow fact rows from the events of encounters, scheduling, orders,
the laboratory and billing. Replayable (keyed on ids the events carry, times from the events).

Scheduling events are subscribed to by their agreed type strings, so this module does not
import that module: until it is installed those subscriptions simply never fire.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

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
from hm_core.events.unit_of_work import current, insert, update, upsert
from hm_core.iam.events import FacilityUpdated
from hm_core.lab.events import ResultReleased
from hm_core.orders.events import OrderPlaced
from hm_core.reports.models import (
    NOBODY,
    LabDay,
    LabTurnaround,
    OpdDay,
    OpdNoShow,
    OpdVisit,
    RevenueDay,
    RevenueEncounterPayer,
    RevenueEntry,
)
from hm_core.reports.rollups import (
    CENTS,
    Deltas,
    add,
    bump,
    local_day,
    refresh,
    revenue_deltas,
    visit_figures,
    zone_named,
    zone_of,
)

rebuildable(
    "reports",
    OpdVisit, OpdNoShow, LabTurnaround, RevenueEntry, RevenueEncounterPayer,
    OpdDay, LabDay, RevenueDay,
)  # fmt: skip

APPOINTMENT_CHECKED_IN = "appointment.checked_in"
APPOINTMENT_NO_SHOW = "appointment.marked_no_show"
PATIENT = "patient"
UNALLOCATED = ""  # the service of a payment on an invoice with nothing billed to spread it on


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    """The interval in minutes, or None while either end is unknown."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 60


# --- OPD ----------------------------------------------------------------------------------

VISIT_FIELDS = (
    "practitioner_id", "practitioner_from_appointment", "status", "scheduled_at",
    "checked_in_at", "consult_started_at", "closed_at", "cancelled_at", "at", "day",
    "wait_minutes", "visit_minutes",
)  # fmt: skip


@subscribe(EncounterCreated)
def opd_visit_apply_created(event: EncounterCreated, meta: EventMeta) -> None:
    """A visit counts from its creation, on its scheduled day until the patient checks in."""
    _visit_change(meta, event.encounter_id, status="SCHEDULED", scheduled_at=event.scheduled_at,
                  at=event.scheduled_at)  # fmt: skip


@subscribe(EncounterCheckedIn)
def opd_visit_apply_checked_in(event: EncounterCheckedIn, meta: EventMeta) -> None:
    """From check-in on, the visit belongs to the day the patient arrived."""
    _visit_change(meta, event.encounter_id, status="CHECKED_IN", checked_in_at=meta.occurred_at,
                  at=meta.occurred_at)  # fmt: skip


@subscribe(ConsultStarted)
def opd_visit_apply_consult_started(event: ConsultStarted, meta: EventMeta) -> None:
    """The wait ends; the clinician who starts is the practitioner unless an appointment said."""
    _visit_change(
        meta,
        event.encounter_id,
        lambda row: {
            "status": "IN_CONSULT",
            "consult_started_at": meta.occurred_at,
            "wait_minutes": minutes_between(row["checked_in_at"], meta.occurred_at),
            "practitioner_id": row["practitioner_id"]
            if row["practitioner_from_appointment"]
            else meta.actor_id,
        },
    )


@subscribe(EncounterClosed)
def opd_visit_apply_closed(event: EncounterClosed, meta: EventMeta) -> None:
    """The visit's length runs from check-in to close."""
    _visit_change(
        meta,
        event.encounter_id,
        lambda row: {
            "status": "CLOSED",
            "closed_at": meta.occurred_at,
            "visit_minutes": minutes_between(row["checked_in_at"], meta.occurred_at),
        },
    )


@subscribe(EncounterCancelled)
def opd_visit_apply_cancelled(event: EncounterCancelled, meta: EventMeta) -> None:
    """A cancelled visit still counts among the day's encounters, as cancelled."""
    _visit_change(meta, event.encounter_id, status="CANCELLED", cancelled_at=meta.occurred_at)


@subscribe(APPOINTMENT_CHECKED_IN)
def opd_visit_apply_appointment_checked_in(event: DomainEvent, meta: EventMeta) -> None:
    """A visit booked with a practitioner is that practitioner's, whoever starts the consult."""
    encounter_id = _uuid(_field(event, "encounter_id"))
    if encounter_id is None:
        return
    _visit_change(meta, encounter_id, practitioner_id=_uuid(_field(event, "practitioner_id")),
                  practitioner_from_appointment=True)  # fmt: skip


@subscribe(APPOINTMENT_NO_SHOW)
def opd_no_show_apply_marked(event: DomainEvent, meta: EventMeta) -> None:
    """A no-show counts on the day and for the practitioner of the missed appointment."""
    appointment_id = _uuid(_field(event, "appointment_id"))
    if appointment_id is None:
        return
    found = OpdNoShow.all_tenants.filter(tenant_id=meta.tenant_id, appointment_id=appointment_id)
    before = found.values("day", "practitioner_id").first()
    at = _instant(_field(event, "start")) or meta.occurred_at
    after = {"practitioner_id": _uuid(_field(event, "practitioner_id")),
             "day": local_day(at, zone_of(meta.tenant_id, meta.facility_id))}  # fmt: skip
    upsert(OpdNoShow, appointment_id=appointment_id,
           defaults={"tenant_id": meta.tenant_id, "facility_id": meta.facility_id, "at": at,
                     **after})  # fmt: skip
    deltas: Deltas = {}
    for row, sign in ((before, -1), (after, 1)):
        if row is not None:
            add(deltas, (row["day"], row["practitioner_id"] or NOBODY), {"no_shows": 1}, sign)
    bump(OpdDay, meta.tenant_id, meta.facility_id, deltas)


def _visit_change(
    meta: EventMeta,
    encounter_id: uuid.UUID,
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    **fields: Any,
) -> None:
    """Write the visit's new state and move its counts between day rollups by the difference.

    The row is read first (one lookup by key): its old day and practitioner are what the
    rollup must lose, whatever order the encounter's and the appointment's events come in."""
    before = _visit_before(meta.tenant_id, encounter_id)
    row = dict(before or _NEW_VISIT)
    row.update(fields)
    if derive is not None:
        row.update(derive(row))
    row["day"] = local_day(row["at"], zone_of(meta.tenant_id, meta.facility_id))
    scoped = {"tenant_id": meta.tenant_id, "facility_id": meta.facility_id}
    upsert(OpdVisit, encounter_id=encounter_id, defaults={**scoped, **row})
    deltas: Deltas = {}
    for state, sign in ((before, -1), (row, 1)):
        if state is not None and state["day"] is not None:
            add(deltas, *visit_figures(state), sign)
    bump(OpdDay, meta.tenant_id, meta.facility_id, deltas)


def _visit_before(tenant_id: uuid.UUID, encounter_id: uuid.UUID) -> dict[str, Any] | None:
    """The visit's fields as they stand: what this command already wrote to the row (no
    statement; an imported encounter's created, checked-in and closed events follow each
    other in one unit of work), else read by key without flushing the command's writes to
    other visits first."""
    found = OpdVisit.all_tenants.filter(tenant_id=tenant_id, encounter_id=encounter_id)

    def read() -> dict[str, Any] | None:
        return found.values(*VISIT_FIELDS).first()

    uow = current()
    if uow is None:  # a replay: every write already ran
        return read()
    row = uow.lookup(OpdVisit, encounter_id, read)
    if isinstance(row, OpdVisit):
        return (
            {name: getattr(row, name) for name in VISIT_FIELDS}
            if row.tenant_id == tenant_id
            else None
        )
    return row


_NEW_VISIT: dict[str, Any] = dict.fromkeys(VISIT_FIELDS) | {
    "practitioner_from_appointment": False,
    "status": "SCHEDULED",
}


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
    found = item.values_list("placed_at", "service_code").first()
    if found is None:
        return
    placed, code = found
    day = local_day(meta.occurred_at, zone_of(meta.tenant_id, meta.facility_id))
    update(
        item,
        released_at=meta.occurred_at,
        day=day,
        critical=event.is_critical,
        minutes=minutes_between(placed, meta.occurred_at),
    )
    figures = {"results": 1, "critical": int(event.is_critical)}
    bump(LabDay, meta.tenant_id, meta.facility_id, {(day, code): figures})


# --- Facility time zone -------------------------------------------------------------------


@subscribe(FacilityUpdated)
def report_days_apply_facility_updated(event: FacilityUpdated, meta: EventMeta) -> None:
    """Local days follow the facility's zone: a new zone re-keys its facts and rollups."""
    if "time_zone" not in event.changed:
        return
    refresh(tenant_id=meta.tenant_id, facility_id=event.facility_id,
            zone=zone_named(event.time_zone))  # fmt: skip


# --- Revenue ------------------------------------------------------------------------------

ENTRY_FIELDS = ("id", "kind", "encounter_id", "claim_id", "payer", "service_code", "amount",
                "currency", "at", "day")  # fmt: skip


@subscribe(ChargePosted)
def revenue_apply_charge_posted(event: ChargePosted, meta: EventMeta) -> None:
    """Billed: the charge's amount, on the day it was posted."""
    # A charge is a new fact (its id is new): nothing to read before it, and nothing to take
    # away from the rollups (a rebuild drops them before it replays).
    entry_id = f"billed:{event.charge_id}"
    _entries_change(meta, {}, [{
        "id": entry_id, "kind": "billed", "encounter_id": event.encounter_id, "claim_id": None,
        # Charges precede any claim (claims need a final invoice): the patient's until then.
        "payer": PATIENT, "service_code": event.code,
        "amount": (event.unit_price * event.quantity).quantize(CENTS),
        "currency": event.currency, "at": meta.occurred_at,
    }])  # fmt: skip


@subscribe(ChargeReversed)
def revenue_apply_charge_reversed(event: ChargeReversed, meta: EventMeta) -> None:
    """A reversed charge was never owed: its entry leaves the billed figures."""
    before = _entries(meta, id=f"billed:{event.charge_id}")
    _entries_change(meta, before, [{**row, "kind": "reversed"} for row in before.values()])


@subscribe(ClaimCreated)
def revenue_apply_claim_created(event: ClaimCreated, meta: EventMeta) -> None:
    """A claim's lines wait as drafts until it is submitted; its payer takes the encounter."""
    if event.payer_id is not None:
        upsert(RevenueEncounterPayer, encounter_id=event.encounter_id,
               defaults={"tenant_id": meta.tenant_id, "facility_id": meta.facility_id,
                         "payer": str(event.payer_id), "claim_id": event.claim_id})  # fmt: skip
    before = _entries(meta, encounter_id=event.encounter_id)
    payer = str(event.payer_id) if event.payer_id is not None else None
    after = [{**row, "payer": payer} for row in before.values()] if payer else []
    after += [
        {"id": f"claimed:{event.claim_id}:{line.line}", "kind": "drafted",
         "claim_id": event.claim_id, "encounter_id": event.encounter_id,
         "payer": payer or _payer_of(meta, event.encounter_id),
         "service_code": line.service_code, "amount": line.amount,
         "currency": event.currency, "at": meta.occurred_at}
        for line in event.lines
        if f"claimed:{event.claim_id}:{line.line}" not in before
    ]  # fmt: skip
    _entries_change(meta, before, after)


@subscribe(ClaimSubmitted)
def revenue_apply_claim_submitted(event: ClaimSubmitted, meta: EventMeta) -> None:
    """Claimed: the claim's lines, on the day it was submitted."""
    before = _entries(meta, claim_id=event.claim_id, kind="drafted")
    after = [{**row, "kind": "claimed", "at": meta.occurred_at} for row in before.values()]
    _entries_change(meta, before, after)


@subscribe(ClaimAdjudicated)
def revenue_apply_claim_adjudicated(event: ClaimAdjudicated, meta: EventMeta) -> None:
    """Approved: each line's approved amount, on the day of the adjudication."""
    rows = _entries(meta, claim_id=event.claim_id)
    before = {key: row for key, row in rows.items() if key.startswith("approved:")}
    after = []
    for line in event.lines:
        source = rows.get(f"claimed:{event.claim_id}:{line.line}")
        after.append({
            "id": f"approved:{event.claim_id}:{line.line}", "kind": "approved",
            "claim_id": event.claim_id,
            "encounter_id": source["encounter_id"] if source else None,
            "payer": source["payer"] if source else PATIENT,
            "service_code": source["service_code"] if source else "",
            "amount": line.approved_amount,
            "currency": source["currency"] if source else "",
            "at": meta.occurred_at,
        })  # fmt: skip
    _entries_change(meta, before, after)


@subscribe(PaymentRecorded)
def revenue_apply_payment_recorded(event: PaymentRecorded, meta: EventMeta) -> None:
    """Paid: the payment, on the day it was recorded, spread over the invoice's services
    (`allocate`: what the payer approved, else what is still owed per service)."""
    rows = _entries(meta, encounter_id=event.encounter_id)
    prefix = f"paid:{event.payment_id}:"
    before = {key: row for key, row in rows.items() if key.startswith(prefix)}
    others = [row for key, row in rows.items() if key not in before]
    shares = allocate(event.amount, weights=payment_weights(others, event))
    payer = _payer_of(meta, event.encounter_id)
    after = [
        {"id": f"{prefix}{service}", "kind": "paid", "encounter_id": event.encounter_id,
         "claim_id": event.claim_id, "payer": payer, "service_code": service,
         "amount": amount, "currency": event.currency, "at": meta.occurred_at}
        for service, amount in shares.items()
    ]  # fmt: skip
    _entries_change(meta, before, after)


def payment_weights(rows: list[dict[str, Any]], event: PaymentRecorded) -> dict[str, Decimal]:
    """Per service: what the paying claim approved; else the balance still owed; else billed."""
    mine = [row for row in rows if row["currency"] == event.currency]
    approved: dict[str, Decimal] = defaultdict(Decimal)
    owed: dict[str, Decimal] = defaultdict(Decimal)
    billed: dict[str, Decimal] = defaultdict(Decimal)
    for row in mine:
        code, amount = row["service_code"], row["amount"]
        if row["kind"] == "approved" and event.claim_id and row["claim_id"] == event.claim_id:
            approved[code] += amount
        elif row["kind"] == "billed":
            billed[code] += amount
            owed[code] += amount
        elif row["kind"] == "paid":
            owed[code] -= amount
    for weights in (approved, owed, billed):
        positive = {code: w for code, w in weights.items() if w > 0}
        if positive:
            return positive
    return {}


def allocate(amount: Decimal, *, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """`amount` split in proportion to `weights`, to the cent, the shares summing to it exactly
    (largest remainders take the leftover cents; ties by code). No weight: one unallocated share."""
    total = sum(weights.values(), Decimal(0))
    if not weights or total <= 0:
        return {UNALLOCATED: amount}
    whole = int(amount.quantize(CENTS) * 100)
    exact = {code: whole * w / total for code, w in sorted(weights.items())}
    shares = {code: int(value) for code, value in exact.items()}
    order = sorted(exact, key=lambda code: (-(exact[code] - shares[code]), code))
    for code in order[: whole - sum(shares.values())]:
        shares[code] += 1
    return {code: Decimal(n) / 100 for code, n in shares.items() if n}


def _entries(meta: EventMeta, **where: Any) -> dict[str, dict[str, Any]]:
    """The current money entries matching `where`, by id (read before they change)."""
    found = RevenueEntry.all_tenants.filter(tenant_id=meta.tenant_id, **where)
    return {row["id"]: row for row in found.values(*ENTRY_FIELDS)}


def _entries_change(
    meta: EventMeta, before: dict[str, dict[str, Any]], after: list[dict[str, Any]]
) -> None:
    """Write entries in their new state and add the difference to the day rollups."""
    zone = zone_of(meta.tenant_id, meta.facility_id)
    for row in after:
        row["day"] = local_day(row["at"], zone)
        upsert(RevenueEntry, id=row["id"], defaults={
            "tenant_id": meta.tenant_id, "facility_id": meta.facility_id,
            **{k: v for k, v in row.items() if k != "id"},
        })  # fmt: skip
    deltas = revenue_deltas([(before.get(row["id"]), row) for row in after])
    bump(RevenueDay, meta.tenant_id, meta.facility_id, deltas)


def _payer_of(meta: EventMeta, encounter_id: uuid.UUID | None) -> str:
    """The payer of the encounter's claim so far, else the patient."""
    if encounter_id is None:
        return PATIENT
    found = RevenueEncounterPayer.all_tenants.filter(
        tenant_id=meta.tenant_id, encounter_id=encounter_id
    ).values_list("payer", flat=True)
    return next(iter(found), PATIENT)


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
