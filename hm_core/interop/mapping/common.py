"""Readers every mapping shares: the patient identifier and HL7 date/times.

Dates are parsed by python-hl7 (`hl7.parse_datetime`, the DTM grammar
YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]); this module only adds what hm_core decides on top:
a time without an offset is taken as UTC (the server's zone: facilities have no time zone yet),
and a date of birth needs at least the day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import hl7

from hm_core.interop.hl7.message import Hl7Error, field, repetitions

HL7_NULL = '""'  # "delete the stored value" (v2.5 §2.5.3), unlike an empty field


def patient_mrn(pid: hl7.Segment | None, *, required: bool = True) -> str:
    """PID-3: the repetition whose identifier type (PID-3.5) is `MR`, else the first."""
    count = repetitions(pid, 3)
    chosen = next((r for r in range(1, count + 1) if field(pid, 3, 5, r).upper() == "MR"), 1)
    mrn = field(pid, 3, 1, chosen)
    if mrn == HL7_NULL:
        mrn = ""
    if required and not mrn:
        raise Hl7Error("PID-3 (patient identifier) is empty.", code="101", location="PID^1^3")
    return mrn


def hl7_datetime(text: str) -> datetime | None:
    """An HL7 DTM as an aware datetime (UTC when it has no offset); None if absent or invalid."""
    if not text or text == HL7_NULL:
        return None
    try:
        moment = hl7.parse_datetime(text)
    except (ValueError, OverflowError):  # 20230230, 2500 hours, "February 2 2024"
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def is_hl7_datetime(text: str) -> bool:
    return hl7_datetime(text) is not None


def hl7_date(text: str, *, location: str, label: str) -> date | None:
    """A date to the day (e.g. PID-7) as sent, in the sender's own zone; AE 102 if malformed."""
    if not text or text == HL7_NULL:
        return None
    moment = hl7_datetime(text)
    if moment is None or len(text.split("+")[0].split("-")[0]) < 8:
        raise Hl7Error(f"{label} is not a valid date (YYYYMMDD).", code="102", location=location)
    return moment.date()
