"""Building the outbound messages of contract §11 with hl7apy: ORM^O01 and ORU^R01, v2.5.1.

The builders are pure: they take plain facts (gathered from the read models by
`interop.outbound`) and return ER7 text with CR separators. Every free-text value (names, MRNs,
codes, units, usernames) goes in as a typed hl7apy datatype, never as a string hl7apy would parse:
a `|`, `^`, `&`, `~` or `\\` in a patient's name is then escaped (`\\F\\`, `\\S\\`, ...) instead of
silently shifting every later field.

Validation is hl7apy's tolerant level: its strict level cannot express v2.5.1 ORM^O01 (the
OBR/RQD/RQ1/RXO/ODS/ODT choice group is read as a sequence, so RQD becomes "required") nor a
typed OBX-5 (strict refuses to give the `varies` field the type OBX-2 names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.factories import datatype_factory

VERSION = "2.5.1"
SENDING_APPLICATION = "HM_CORE"
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_PRIORITY = {"STAT": "S", "URGENT": "A"}  # HL7 table 0027; anything else is R (routine)


@dataclass(frozen=True)
class Envelope:
    """MSH facts: who sends to whom, when, and the message's own control id (MSH-10)."""

    sending_facility: str
    receiving_application: str
    receiving_facility: str
    control_id: str
    created_at: datetime


@dataclass(frozen=True)
class PatientFacts:
    mrn: str
    full_name: str
    date_of_birth: date | None
    gender: str
    visit_number: str = ""


@dataclass(frozen=True)
class OrderFacts:
    placer_number: str
    ordered_at: datetime
    ordered_by: str
    priority: str


@dataclass(frozen=True)
class ServiceFacts:
    """One ordered test (OBR-4): the local code and name, and its LOINC when known."""

    code: str
    name: str
    loinc_code: str = ""


@dataclass(frozen=True)
class Observation:
    """One analyte of a result (OBX): code and names as the catalog knows them."""

    code: str
    name: str
    loinc_code: str
    value: str
    unit: str
    reference_range: str
    flag: str


def ts(value: datetime) -> str:
    """An HL7 DTM in UTC with its offset, e.g. `20260102030405+0000`."""
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def split_name(full_name: str) -> tuple[str, str, str]:
    """(family, given, middle) from a free-text name: "Family, Given Middle" or "Given Middle
    Family"; one word is a family name. A best effort: hm_core keeps names as one string."""
    if "," in full_name:
        family, _, rest = full_name.partition(",")
        given, _, middle = rest.strip().partition(" ")
        return family.strip(), given, middle.strip()
    words = full_name.split()
    if len(words) < 2:
        return full_name.strip(), "", ""
    return words[-1], words[0], " ".join(words[1:-1])


def _put(parent: Any, path: str, text: str) -> None:
    """Set the leaf at `path` (e.g. `pid_5.xpn_1.fn_1`) to `text`, escaped on output."""
    if not text:
        return
    element = parent
    for name in path.split("."):
        element = getattr(element, name)
    element.value = datatype_factory(
        element.datatype, text, version=VERSION, validation_level=element.validation_level
    )


def _coded(parent: Any, field: str, code: str, name: str, loinc: str) -> None:
    """A CE: local `code^name^L`, then `loinc^name^LN` when the catalog knows the LOINC."""
    _put(parent, f"{field}.ce_1", code)
    _put(parent, f"{field}.ce_2", name)
    _put(parent, f"{field}.ce_3", "L")
    if loinc:
        _put(parent, f"{field}.ce_4", loinc)
        _put(parent, f"{field}.ce_5", name)
        _put(parent, f"{field}.ce_6", "LN")


def _message(structure: str, code: str, trigger: str, envelope: Envelope) -> Message:
    message = Message(structure, version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = message.msh
    _put(msh, "msh_3.hd_1", SENDING_APPLICATION)
    _put(msh, "msh_4.hd_1", envelope.sending_facility)
    _put(msh, "msh_5.hd_1", envelope.receiving_application)
    _put(msh, "msh_6.hd_1", envelope.receiving_facility)
    _put(msh, "msh_7.ts_1", ts(envelope.created_at))
    _put(msh, "msh_9.msg_1", code)
    _put(msh, "msh_9.msg_2", trigger)
    _put(msh, "msh_9.msg_3", structure)
    _put(msh, "msh_10", envelope.control_id)
    _put(msh, "msh_11.pt_1", "P")
    _put(msh, "msh_12.vid_1", VERSION)
    _put(msh, "msh_18", "UNICODE UTF-8")
    return message


def _patient(group: Any, visit_group: str, patient: PatientFacts) -> None:
    """PID then PV1 (hl7apy appends segments in the order they are first touched)."""
    pid = group.pid
    _put(pid, "pid_1", "1")
    _put(pid, "pid_3.cx_1", patient.mrn)
    _put(pid, "pid_3.cx_5", "MR")
    family, given, middle = split_name(patient.full_name)
    _put(pid, "pid_5.xpn_1.fn_1", family)
    _put(pid, "pid_5.xpn_2", given)
    _put(pid, "pid_5.xpn_3", middle)
    if patient.date_of_birth is not None:
        _put(pid, "pid_7.ts_1", patient.date_of_birth.strftime("%Y%m%d"))
    _put(pid, "pid_8", patient.gender)
    pv1 = group.add_group(visit_group).pv1
    _put(pv1, "pv1_1", "1")
    _put(pv1, "pv1_2", "O")  # outpatient: hm_core's encounters are OPD visits
    _put(pv1, "pv1_19.cx_1", patient.visit_number)


def _orc(orc: Any, control: str, order: OrderFacts) -> None:
    _put(orc, "orc_1", control)
    _put(orc, "orc_2.ei_1", order.placer_number)
    _put(orc, "orc_9.ts_1", ts(order.ordered_at))
    _put(orc, "orc_12.xcn_1", order.ordered_by)


def _obr(obr: Any, number: int, order: OrderFacts, service: ServiceFacts) -> None:
    _put(obr, "obr_1", str(number))
    _put(obr, "obr_2.ei_1", order.placer_number)
    _coded(obr, "obr_4", service.code, service.name, service.loinc_code)
    _put(obr, "obr_27.tq_6", _PRIORITY.get(order.priority, "R"))


def build_orm(
    envelope: Envelope, patient: PatientFacts, order: OrderFacts, items: Sequence[ServiceFacts]
) -> str:
    """ORM^O01 for a new order: one ORC `NW` + OBR pair per ordered test, as LIS expect."""
    message = _message("ORM_O01", "ORM", "O01", envelope)
    _patient(message.add_group("ORM_O01_PATIENT"), "ORM_O01_PATIENT_VISIT", patient)
    for number, service in enumerate(items, start=1):
        order_group = message.add_group("ORM_O01_ORDER")
        _orc(order_group.orc, "NW", order)
        detail = order_group.add_group("ORM_O01_ORDER_DETAIL")
        choice = detail.add_group("ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP")
        _obr(choice.obr, number, order, service)
    return str(message.to_er7())


def _obx(obx: Any, number: int, observation: Observation, status: str) -> None:
    kind = "NM" if _NUMBER.match(observation.value) else "ST"
    _put(obx, "obx_1", str(number))
    _put(obx, "obx_2", kind)
    _coded(obx, "obx_3", observation.code, observation.name, observation.loinc_code)
    value = obx.obx_5
    value.datatype = kind  # OBX-5 "varies": its type is the one OBX-2 names
    value.value = datatype_factory(kind, observation.value, version=VERSION)
    _put(obx, "obx_6.ce_1", observation.unit)
    _put(obx, "obx_7", observation.reference_range)
    _put(obx, "obx_8", observation.flag)
    _put(obx, "obx_11", status)


def build_oru(
    envelope: Envelope,
    patient: PatientFacts,
    order: OrderFacts,
    service: ServiceFacts,
    observations: Sequence[Observation],
    *,
    corrected: bool,
    reported_at: datetime,
) -> str:
    """ORU^R01 for one released result: OBR-25 and every OBX-11 `F`, or `C` for a correction."""
    status = "C" if corrected else "F"
    message = _message("ORU_R01", "ORU", "R01", envelope)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    _patient(result.add_group("ORU_R01_PATIENT"), "ORU_R01_VISIT", patient)
    observation_group = result.add_group("ORU_R01_ORDER_OBSERVATION")
    _orc(observation_group.orc, "RE", order)
    _obr(observation_group.obr, 1, order, service)
    _put(observation_group.obr, "obr_22.ts_1", ts(reported_at))
    _put(observation_group.obr, "obr_25", status)
    for number, observation in enumerate(observations, start=1):
        _obx(observation_group.add_group("ORU_R01_OBSERVATION").obx, number, observation, status)
    return str(message.to_er7())
