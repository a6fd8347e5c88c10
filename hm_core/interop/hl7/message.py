"""Reading an inbound ER7 message: bytes in, a parsed message (python-hl7) or a coded refusal.

What arrives from real systems is rarely textbook HL7. Tolerated here, as contract §11 says:
a UTF-8 byte-order mark, CR, LF or CRLF between segments, trailing blanks, MSH-18
`UNICODE UTF-8` or `8859/1` (ASCII/Latin-1 when absent), versions 2.3 to 2.8. Refused with a
table-0357 code (the ACK's ERR-3): no MSH, an empty MSH-9 or MSH-10, a version outside 2.3-2.8,
and garbage between segments — a line that is not a segment, or segments run together on one
line (` OBX|` inside a field), which would otherwise silently lose data.

The parsing itself is python-hl7's (`hl7.parse`, escapes, repetitions, components); this
module only normalises what comes before it and names the fields the mapping reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import hl7

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8")
_BOM = b"\xef\xbb\xbf"
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_CHARSETS = {"UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "8859/1": "latin-1", "ASCII": "latin-1"}


class Hl7Error(Exception):
    """A message hm_core refuses; `code` is the HL7 table 0357 error code for ERR-3."""

    def __init__(self, text: str, *, code: str, location: str = "", reject: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.location = location
        self.reject = reject  # AR (the message itself is unusable) rather than AE


class Hl7Reject(Hl7Error):
    """Unparseable or unacceptable as a message: answered `AR`."""

    def __init__(self, text: str, *, code: str, location: str = "") -> None:
        super().__init__(text, code=code, location=location, reject=True)


@dataclass(frozen=True)
class Header:
    """The MSH fields routing, deduplication and the ACK need."""

    field_separator: str = "|"
    encoding_characters: str = "^~\\&"
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_code: str = ""
    trigger_event: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = ""
    charset: str = ""

    @property
    def encoding(self) -> str:
        """The Python codec of MSH-18, for the ACK's bytes (UTF-8 when none is declared)."""
        if not self.charset:
            return "utf-8"
        return _CHARSETS.get(self.charset.upper(), "latin-1")

    @property
    def message_type(self) -> str:
        """`ADT^A04` (the structure, MSH-9.3, is not part of what the log shows)."""
        if not self.trigger_event:
            return self.message_code
        return f"{self.message_code}^{self.trigger_event}"


class Hl7Message:
    """A parsed inbound message: its header and field access by segment, with escapes resolved."""

    def __init__(self, parsed: hl7.Message, header: Header) -> None:
        self.parsed = parsed
        self.header = header

    def segments(self, segment_id: str) -> list[hl7.Segment]:
        return [s for s in self.parsed if str(s[0]) == segment_id]

    def segment(self, segment_id: str) -> hl7.Segment | None:
        found = self.segments(segment_id)
        return found[0] if found else None

    def all_segments(self) -> list[hl7.Segment]:
        return list(self.parsed)


def field(
    segment: hl7.Segment | None,
    number: int,
    component: int = 1,
    repetition: int = 1,
    subcomponent: int = 1,
) -> str:
    """The unescaped text at SEG-number.repetition.component.subcomponent, '' when absent."""
    if segment is None or number >= len(segment):
        return ""
    try:
        value = segment.extract_field(1, number, repetition, component, subcomponent)
    except IndexError:  # python-hl7: the path runs past a leaf, i.e. that component is absent
        return ""
    return str(value).strip()


def repetitions(segment: hl7.Segment | None, number: int) -> int:
    """How many repetitions (`~`) a field has; 0 when it is empty or absent."""
    if segment is None or number >= len(segment) or not str(segment[number]):
        return 0
    value = segment[number]
    # python-hl7 keeps a repeated field as a Field whose items are Repetitions.
    return len(value) if value and isinstance(value[0], hl7.Repetition) else 1


def decode(raw: bytes) -> str:
    """Bytes to text by MSH-18 (UTF-8 or Latin-1), BOM dropped, segments separated by CR."""
    body = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    body = body.strip(b"\x00\r\n \t")
    charset = _charset_of(body)
    try:
        text = body.decode(charset)
    except UnicodeDecodeError:
        # MSH-18 absent yet UTF-8 declared by the bytes' BOM-less shape is common; Latin-1 never
        # fails and keeps every byte, so a wrongly declared message still gets an ACK.
        text = body.decode("latin-1")
    lines = [line.rstrip(" \t") for line in re.split(r"\r\n|\r|\n", text)]
    return "\r".join(line for line in lines if line)


def _charset_of(body: bytes) -> str:
    """MSH-18 read from the MSH line alone (decoded as Latin-1, which keeps every byte)."""
    first = re.split(rb"\r|\n", body, maxsplit=1)[0].decode("latin-1")
    if not first.startswith("MSH") or len(first) < 8:
        return "utf-8"
    try:
        declared = field(hl7.parse(first).segment("MSH"), 18).upper()
    except Exception:  # a broken MSH is refused later, with its reason
        return "utf-8"
    return _CHARSETS.get(declared, "latin-1") if declared else "utf-8"


def parse(raw: bytes) -> Hl7Message:
    """Parse an inbound message or raise `Hl7Error` (AR for what is not a usable message)."""
    text = decode(raw)
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Reject("The message does not start with an MSH segment.", code="100")
    _check_segments(text)
    try:
        parsed = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises plain exceptions on broken separators
        raise Hl7Reject(f"The message cannot be parsed: {type(exc).__name__}.", code="102") from exc
    header = _header(parsed)
    _check_header(header)
    return Hl7Message(parsed, header)


def _check_segments(text: str) -> None:
    separator = text[3]
    segment_ids: list[str] = []
    for number, line in enumerate(text.split("\r"), start=1):
        segment_id = line.split(separator, 1)[0]
        if not _SEGMENT_ID.match(segment_id) or (len(line) > 3 and line[3] != separator):
            raise Hl7Reject(
                f"Line {number} is not an HL7 segment.", code="100", location=f"{number}"
            )
        segment_ids.append(segment_id)
    # A segment terminator lost in transit runs two segments together: " OBX|1|..." then sits
    # inside a field. Known segment ids followed by the field separator after a blank give it away.
    known = "|".join(sorted(set(segment_ids) | {"OBX", "OBR", "ORC", "NTE", "PID", "PV1", "SPM"}))
    joined = re.compile(rf"\s(?:{known}){re.escape(separator)}")
    for number, line in enumerate(text.split("\r"), start=1):
        if joined.search(line[4:]):
            raise Hl7Reject(
                f"Segment {number} ({line[:3]}) contains another segment: a segment terminator "
                "is missing.",
                code="100",
                location=f"{line[:3]}",
            )


def _header(parsed: hl7.Message) -> Header:
    msh = parsed.segment("MSH")
    return Header(
        field_separator=str(msh[1]),
        encoding_characters=str(msh[2]),
        sending_application=field(msh, 3),
        sending_facility=field(msh, 4),
        receiving_application=field(msh, 5),
        receiving_facility=field(msh, 6),
        message_code=field(msh, 9, 1).upper(),
        trigger_event=field(msh, 9, 2).upper(),
        control_id=field(msh, 10),
        processing_id=field(msh, 11) or "P",
        version=field(msh, 12),
        charset=field(msh, 18),
    )


def _check_header(header: Header) -> None:
    if not header.message_code:
        raise Hl7Reject("MSH-9 (message type) is empty.", code="101", location="MSH^1^9")
    if not header.control_id:
        raise Hl7Reject("MSH-10 (message control id) is empty.", code="101", location="MSH^1^10")
    if header.version not in SUPPORTED_VERSIONS:
        raise Hl7Reject(
            f"Version {header.version or '(none)'} is not supported (2.3 to 2.8).",
            code="203",
            location="MSH^1^12",
        )


def peek_header(raw: bytes) -> Header:
    """Whatever MSH fields can be read from a message that was refused (for its AR)."""
    first = decode(raw).split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return Header()
    try:
        return _header(hl7.parse(first))
    except Exception:  # nothing readable: the AR goes out with an empty header
        return Header()
