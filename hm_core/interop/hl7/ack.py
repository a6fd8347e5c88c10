"""The original-mode ACK of contract §11, built with python-hl7's containers.

`MSH` with sender and receiver swapped, MSH-9 `ACK^<trigger>^ACK`, a new MSH-10, the message's
MSH-12 and encoding characters; `MSA|<code>|<MSH-10 of the message>|<text>`; for AE and AR an
`ERR` segment in the v2.5+ layout every version here accepts in practice: ERR-2 the location
(segment^sequence^field), ERR-3 the HL7 table 0357 code, ERR-4 severity `E`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import hl7

from hm_core.common.time import utcnow
from hm_core.interop.hl7.message import Header

# HL7 table 0357, message error condition codes.
ERROR_TEXT = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "207": "Application internal error",
}

RECEIVING_APPLICATION = "HM_CORE"


@dataclass(frozen=True)
class AckError:
    code: str  # table 0357
    location: str = ""  # "OBR^1^2": segment, sequence, field


def new_control_id() -> str:
    """MSH-10 of a message hm_core originates: unique, at most 20 characters (ST in 2.3)."""
    return uuid.uuid4().hex[:20].upper()


def build_ack(
    header: Header,
    *,
    code: str,
    text: str = "",
    error: AckError | None = None,
    receiving_facility: str = "",
) -> str:
    """The ACK for a message with `header`: `code` AA, AE or AR; ER7 with CR separators."""
    fs = header.field_separator or "|"
    enc = header.encoding_characters or "^~\\&"
    ack = hl7.parse(f"MSH{fs}{enc}{fs}\rMSA{fs}\rERR{fs}")
    msh = ack.segment("MSH")
    msh.assign_field(ack.escape(header.receiving_application or RECEIVING_APPLICATION), 3)
    msh.assign_field(ack.escape(header.receiving_facility or receiving_facility), 4)
    msh.assign_field(ack.escape(header.sending_application), 5)
    msh.assign_field(ack.escape(header.sending_facility), 6)
    msh.assign_field(utcnow().strftime("%Y%m%d%H%M%S+0000"), 7)
    msh.assign_field("ACK", 9, 1, 1)
    msh.assign_field(ack.escape(header.trigger_event), 9, 1, 2)
    msh.assign_field("ACK", 9, 1, 3)
    msh.assign_field(new_control_id(), 10)
    msh.assign_field(header.processing_id or "P", 11)
    msh.assign_field(header.version or "2.5.1", 12)
    if header.charset:
        msh.assign_field(ack.escape(header.charset), 18)  # the ACK is sent in the same charset
    msa = ack.segment("MSA")
    msa.assign_field(code, 1)
    msa.assign_field(ack.escape(header.control_id), 2)
    if text:
        msa.assign_field(ack.escape(text[:80]), 3)
    if error is None:
        del ack[2]
    else:
        _fill_err(ack, error, text)
    return str(ack)


def _fill_err(ack: hl7.Message, error: AckError, text: str) -> None:
    err = ack.segment("ERR")
    for number, part in enumerate(error.location.split("^")[:4], start=1):
        if part:
            err.assign_field(ack.escape(part), 2, 1, number)
    err.assign_field(error.code, 3, 1, 1)
    err.assign_field(ERROR_TEXT.get(error.code, ""), 3, 1, 2)
    err.assign_field("HL70357", 3, 1, 3)
    err.assign_field("E", 4)
    if text:
        err.assign_field(ack.escape(text[:250]), 8)  # ERR-8 user message


def ack_code_of(ack: str) -> str:
    """MSA-1 of an ACK (AA/AE/AR/CA/CE/CR), '' when the text is not an ACK."""
    try:
        parsed = hl7.parse(ack.replace("\n", "\r").strip())
        msa = parsed.segment("MSA")
    except (KeyError, IndexError, ValueError):  # no MSA or not HL7 at all
        return ""
    return str(msa(1)).strip().upper()
