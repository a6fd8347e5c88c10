"""ORM^O01 and OML^O21 → orders placed and cancelled (contract §11).

ORC-1 `NW`: one order for the PID-3 patient (the repetition typed `MR`, else the first) on the
encounter named by PV1-19, else the patient's newest open encounter in this facility; one item
per OBR, OBR-4.1 matched to a catalog service code, else to its LOINC; the order type is the
services' (one type per message); priority from ORC-7.6 / OBR-27.6 (TQ), or TQ1-9 (v2.5+):
`S` STAT, `A` URGENT, else ROUTINE; placer order number ORC-2.1, else OBR-2.1 (generated when
neither is sent). ORC-1 `CA`: the order with that placer number cancelled.
OBX segments of an order (ask-at-order-entry answers) are not stored, but a date in one that is
no date (OBX-2 DT/DTM/TS) makes the message inapplicable: AE 102, nothing written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import hl7

from hm_core.catalog.selectors import ServiceSpec, service_by_code, service_by_loinc
from hm_core.encounters.selectors import encounter_find_by_visit_number, encounter_list
from hm_core.interop.hl7.message import Hl7Error, Hl7Message, field
from hm_core.interop.mapping import Inbound
from hm_core.interop.mapping.common import is_hl7_datetime, patient_mrn
from hm_core.orders.errors import DuplicatePlacerOrderNumber
from hm_core.orders.selectors import order_find_by_placer_number
from hm_core.orders.services import order_cancel, order_place
from hm_core.patients.selectors import patient_find_by_mrn

PRIORITIES = {"S": "STAT", "A": "URGENT"}
CLOSED_ENCOUNTER = ("CLOSED", "CANCELLED")
PLACER_MAX_LENGTH = 22


@dataclass(frozen=True)
class Ordered:
    """One OBR: its 1-based position among the OBRs and the catalog service it names."""

    position: int
    service: ServiceSpec


def order_message(inbound: Inbound) -> None:
    """ORC-1 NW places the order, CA cancels it; any other order control is refused."""
    message = inbound.message
    check_dates(message)
    controls = {field(orc, 1).upper() for orc in message.segments("ORC")}
    if controls == {"NW"}:
        _place(inbound)
    elif controls == {"CA"}:
        _cancel(inbound)
    else:
        shown = ", ".join(sorted(controls)) or "none"
        text = f"ORC-1 order control {shown} is not supported (one of NW or CA per message)."
        raise Hl7Error(text, code="103", location="ORC^1^1")


def _place(inbound: Inbound) -> None:
    message, scope = inbound.message, inbound.scope
    patient_id = patient_for(inbound)
    encounter_id = _encounter(inbound, patient_id)
    ordered = _ordered(inbound)
    placer = placer_number(message)
    try:
        order_place(
            scope=scope,
            encounter_id=encounter_id,
            order_type=_order_type(ordered),
            priority=_priority(message),
            service_codes=[item.service.code for item in ordered],
            placer_order_number=placer,
        )
    except DuplicatePlacerOrderNumber as exc:
        text = f"An order with placer number {placer} exists already."
        raise Hl7Error(text, code="205", location=_placer_location(message)) from exc


def _cancel(inbound: Inbound) -> None:
    placer = placer_number(inbound.message)
    order = order_find_by_placer_number(scope=inbound.scope, placer_order_number=placer)
    if order is None:
        text = f"No order with placer number {placer or '(none)'}."
        raise Hl7Error(text, code="204", location=_placer_location(inbound.message))
    order_cancel(
        scope=inbound.scope, order_id=order.id, reason="Cancelled by the placer (HL7 ORC-1 CA)"
    )


def check_dates(message: Hl7Message) -> None:
    """A date or time observation (OBX-2 DT, DTM or TS) must hold an HL7 date: AE 102 if not."""
    for number, obx in enumerate(message.segments("OBX"), start=1):
        value_type, value = field(obx, 2).upper(), field(obx, 5)
        if value_type in ("DT", "DTM", "TS") and value and not is_hl7_datetime(value):
            text = f"OBX-5 {value!r} is not an HL7 {value_type} (YYYY[MM[DD[HH[MM[SS]]]]][+ZZZZ])."
            raise Hl7Error(text, code="102", location=f"OBX^{number}^5")


def placer_number(message: Hl7Message) -> str:
    """ORC-2.1, else OBR-2.1 ('' when neither names the order)."""
    placer = field(message.segment("ORC"), 2) or field(message.segment("OBR"), 2)
    if len(placer) > PLACER_MAX_LENGTH:
        text = f"The placer order number is longer than {PLACER_MAX_LENGTH} characters."
        raise Hl7Error(text, code="102", location=_placer_location(message))
    return placer


def _placer_location(message: Hl7Message) -> str:
    return "ORC^1^2" if field(message.segment("ORC"), 2) else "OBR^1^2"


def patient_for(inbound: Inbound) -> uuid.UUID:
    """The tenant's patient named by PID-3 (the `MR` repetition, else the first): AE 204 if none."""
    mrn = patient_mrn(inbound.message.segment("PID"), required=False)
    found = patient_find_by_mrn(scope=inbound.scope, mrn=mrn) if mrn else None
    if found is None:
        raise Hl7Error(f"Unknown patient {mrn or '(none)'}.", code="204", location="PID^1^3")
    return uuid.UUID(str(found.id))


def _encounter(inbound: Inbound, patient_id: uuid.UUID) -> uuid.UUID:
    """PV1-19's encounter (the same patient's), else the newest open one here: AE 204 if none."""
    scope, visit_number = inbound.scope, field(inbound.message.segment("PV1"), 19)
    if visit_number:
        named = encounter_find_by_visit_number(scope=scope, visit_number=visit_number)
        if named is not None and named.patient_id != patient_id:
            text = f"Visit {visit_number} belongs to another patient."
            raise Hl7Error(text, code="204", location="PV1^1^19")
        if named is not None:
            return named.id
    newest = (
        encounter_list(scope=scope, patient=patient_id, status=None)
        .exclude(status__in=CLOSED_ENCOUNTER)
        .first()
    )
    if newest is None:
        text = "The patient has no open encounter in this facility (and PV1-19 names none)."
        raise Hl7Error(text, code="204", location="PV1^1^19")
    return newest.id


def service_for(scope_tenant: uuid.UUID, code: str) -> ServiceSpec | None:
    """The catalog service whose code is `code`, else the one whose LOINC is `code`."""
    if not code:
        return None
    found = service_by_code(tenant_id=scope_tenant, code=code)
    return found or service_by_loinc(tenant_id=scope_tenant, loinc_code=code)


def _ordered(inbound: Inbound) -> list[Ordered]:
    obrs: list[hl7.Segment] = inbound.message.segments("OBR")
    if not obrs:
        raise Hl7Error("The order has no OBR segment.", code="101", location="OBR")
    ordered = []
    for position, obr in enumerate(obrs, start=1):
        code = field(obr, 4)
        service = service_for(inbound.scope.tenant_id, code)
        if service is None or service.order_type not in ("LAB", "IMAGING", "PROCEDURE"):
            text = f"Unknown service {code or '(none)'}: no catalog code or LOINC matches OBR-4."
            raise Hl7Error(text, code="204", location=f"OBR^{position}^4")
        ordered.append(Ordered(position, service))
    return ordered


def _order_type(ordered: list[Ordered]) -> str:
    """The services' order type; one order holds one type (LAB, IMAGING or PROCEDURE)."""
    first = ordered[0].service.order_type
    for item in ordered:
        if item.service.order_type != first:
            text = f"OBR {item.position} is a {item.service.order_type} service, not {first}."
            raise Hl7Error(text, code="103", location=f"OBR^{item.position}^4")
    return first


def _priority(message: Hl7Message) -> str:
    """ORC-7.6, else OBR-27.6 (TQ priority), else TQ1-9 (v2.5+): S → STAT, A → URGENT."""
    for segment, number, component in (("ORC", 7, 6), ("OBR", 27, 6), ("TQ1", 9, 1)):
        code = field(message.segment(segment), number, component).upper()
        if code:
            return PRIORITIES.get(code, "ROUTINE")
    return "ROUTINE"
