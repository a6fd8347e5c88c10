"""ORU^R01 → lab results entered, released or corrected (contract §11).

Each OBR group reports one order item: the order named by OBR-2.1 (or the ORC-2.1 before it) —
hm_core places orders, so the placer number is its key; a report naming only the filler's
number (OBR-3) finds no order — and, in it, the item whose service code or LOINC is OBR-4.1
(else OBR-50.1, the parent service a v2.5+ laboratory reports a sub-panel under).
Each OBX is one analyte of that item's catalog service (OBX-3.1 as the analyte's code, else
its LOINC) with its value (NM; SN `^182` → "182", `<^5` → "<5"; coded values by their text;
ST/TX/FT as sent), unit (OBX-6; a text value without one takes the catalog's), the
laboratory's range (OBX-7) and flag (OBX-8). Pending or withdrawn observations (OBX-11 I, X, D,
W, N) and empty values are skipped; a group left with none enters nothing.
The item's report status is the least final of its observations: any `C` → a correction, all
`F` (or `U`) → final, else preliminary; `lab.services.external` documents what each does.
When PID-3 is sent it must name the order's patient (AE 204 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING

import hl7

from hm_core.catalog.selectors import ServiceSpec, service_by_code
from hm_core.common.errors import HmError
from hm_core.interop.hl7.message import Hl7Error, Hl7Message, field
from hm_core.interop.inbound import as_hl7_error
from hm_core.interop.mapping import Inbound
from hm_core.interop.mapping.orders import check_dates, patient_for
from hm_core.lab.services import ExternalReport, lab_result_accept_external
from hm_core.orders.selectors import order_find_by_placer_number, order_items

if TYPE_CHECKING:  # the selectors' return types; rows are read, never written, here
    from hm_core.orders.models import Order, OrderItem

SKIPPED_STATUSES = frozenset({"I", "X", "D", "W", "N"})
FINAL_STATUSES = frozenset({"F", "U"})
NUMERIC_TYPES = frozenset({"NM", "SN"})
CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF"})


@dataclass
class Group:
    """One OBR, the ORC before it, and its OBX segments with their number in the message."""

    position: int
    obr: hl7.Segment
    orc: hl7.Segment | None
    observations: list[tuple[int, hl7.Segment]] = dataclass_field(default_factory=list)


@dataclass(frozen=True)
class Observation:
    code: str
    value: str
    unit: str
    flag: str
    reference_range: str
    status: str
    verifier: str


def result_message(inbound: Inbound) -> None:
    """Every OBR group's results, all or nothing."""
    message = inbound.message
    check_dates(message)
    groups = _groups(message)
    if not groups:
        raise Hl7Error("The message has no OBR segment.", code="101", location="OBR")
    laboratory = message.header.sending_facility or message.header.sending_application
    for group in groups:
        _apply(inbound, group, laboratory or "outside laboratory")


def _groups(message: Hl7Message) -> list[Group]:
    groups: list[Group] = []
    orc: hl7.Segment | None = None
    obx_number = 0
    for segment in message.all_segments():
        segment_id = str(segment[0])
        if segment_id == "ORC":
            orc = segment
        elif segment_id == "OBR":
            groups.append(Group(position=len(groups) + 1, obr=segment, orc=orc))
        elif segment_id == "OBX":
            obx_number += 1
            if groups:
                groups[-1].observations.append((obx_number, segment))
    return groups


def _apply(inbound: Inbound, group: Group, laboratory: str) -> None:
    order = _order(inbound, group)
    item = _item(inbound, order, group)
    service = service_by_code(tenant_id=inbound.scope.tenant_id, code=item.service_code)
    if service is None:
        text = f"{item.service_code} is no longer in the catalog."
        raise Hl7Error(text, code="204", location=f"OBR^{group.position}^4")
    observations = [_observation(n, obx, service) for n, obx in group.observations]
    kept = [o for o in observations if o is not None]
    if not kept:
        return
    try:
        lab_result_accept_external(
            scope=inbound.scope,
            order_item_id=item.id,
            result_payload={"analytes": [_analyte(o) for o in kept]},
            status=_status(kept),
            report=_report(kept, laboratory),
        )
    except HmError as exc:
        refused = as_hl7_error(exc)
        details = f" {exc.details}" if exc.details else ""
        raise Hl7Error(
            f"{refused.text}{details}"[:1000], code=refused.code, location=f"OBR^{group.position}"
        ) from exc


def _order(inbound: Inbound, group: Group) -> Order:
    placer = field(group.obr, 2) or field(group.orc, 2)
    order = order_find_by_placer_number(scope=inbound.scope, placer_order_number=placer)
    if order is None:
        filler = field(group.obr, 3)
        text = f"No order with placer number {placer or '(none)'}" + (
            f" (filler number {filler} alone names no order here)." if filler else "."
        )
        raise Hl7Error(text, code="204", location=f"OBR^{group.position}^2")
    if inbound.message.segment("PID") is not None and patient_for(inbound) != order.patient_id:
        text = f"Order {placer} is for another patient than PID-3."
        raise Hl7Error(text, code="204", location="PID^1^3")
    return order


def _item(inbound: Inbound, order: Order, group: Group) -> OrderItem:
    items = order_items(scope=inbound.scope, order_ids=[order.id]).get(order.id, [])
    for code in (field(group.obr, 4), field(group.obr, 50)):
        for item in items:
            if code and code in (item.service_code, item.loinc_code):
                return item
    text = f"Order {order.placer_order_number} has no item {field(group.obr, 4) or '(none)'}."
    raise Hl7Error(text, code="204", location=f"OBR^{group.position}^4")


def _observation(number: int, obx: hl7.Segment, service: ServiceSpec) -> Observation | None:
    status, value_type = field(obx, 11).upper(), field(obx, 2).upper()
    value = _value(obx, value_type)
    if status in SKIPPED_STATUSES or not value:
        return None
    code = field(obx, 3)
    analyte = next((a for a in service.analytes if code in (a.code, a.loinc_code)), None)
    if not code or analyte is None:
        text = f"{code or '(none)'} is not an analyte of {service.code} (code or LOINC)."
        raise Hl7Error(text, code="204", location=f"OBX^{number}^3")
    unit = field(obx, 6)
    if not unit and value_type not in NUMERIC_TYPES:
        unit = analyte.unit  # a text or coded value has no unit of its own
    verifier = " ".join(filter(None, (field(obx, 16, 3), field(obx, 16, 2)))) or field(obx, 16)
    return Observation(
        analyte.code, value, unit, field(obx, 8).upper(), field(obx, 7), status, verifier
    )


def _value(obx: hl7.Segment, value_type: str) -> str:
    """OBX-5 as text: SN joined (`<^5` → "<5"), coded values by their text, else as sent."""
    if value_type == "SN":
        return "".join(field(obx, 5, component) for component in (1, 2, 3, 4))
    if value_type in CODED_TYPES:
        return field(obx, 5, 2) or field(obx, 5, 1)
    return field(obx, 5)


def _status(kept: list[Observation]) -> str:
    statuses = {o.status for o in kept}
    if "C" in statuses:
        return "C"
    return "F" if statuses <= FINAL_STATUSES else "P"


def _analyte(observation: Observation) -> dict[str, str]:
    return {"code": observation.code, "value": observation.value, "unit": observation.unit}


def _report(kept: list[Observation], laboratory: str) -> ExternalReport:
    return ExternalReport(
        laboratory=laboratory,
        verifier=next((o.verifier for o in kept if o.verifier), ""),
        flags={o.code: o.flag for o in kept if o.flag},
        ranges={o.code: o.reference_range for o in kept if o.reference_range},
        critical=any(o.flag == "AA" for o in kept),
    )
