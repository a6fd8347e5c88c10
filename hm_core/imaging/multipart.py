"""Streaming `multipart/related` reader for STOW-RS, on python-multipart's push parser.

The body is read in chunks; each part is spooled to a temporary file (memory up to 1 MB, then
disk) and handed over as soon as it is complete, so a study of many instances never sits in
memory. A part past the size limit stops being written and is handed over as `too_large`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from python_multipart.multipart import MultipartParser, parse_options_header

from hm_core.imaging.errors import NotDicomMultipart

CHUNK = 64 * 1024
_SPOOL = 1024 * 1024


@dataclass
class Part:
    content_type: str = ""
    # Closed by the consumer of the part (`with part.file:`).
    file: IO[bytes] = field(default_factory=lambda: tempfile.SpooledTemporaryFile(_SPOOL))  # noqa: SIM115
    size: int = 0
    too_large: bool = False


def boundary_of(content_type: str) -> bytes:
    """The boundary of a `multipart/related; type="application/dicom"` body, else 415."""
    ctype, params = parse_options_header(content_type)
    kind = params.get(b"type", b"application/dicom").strip(b'"').lower()
    boundary = params.get(b"boundary", b"").strip(b'"')
    if ctype.lower() != b"multipart/related" or kind != b"application/dicom" or not boundary:
        raise NotDicomMultipart(details={"content_type": content_type[:200]})
    return boundary


class _Collector:
    """python-multipart callbacks that fill `Part`s and queue the finished ones."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.done: list[Part] = []
        self.part = Part()
        self._field = b""
        self._value = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.begin,
            "on_header_field": lambda d, s, e: setattr(self, "_field", self._field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_value", self._value + d[s:e]),
            "on_header_end": self.header_end,
            "on_part_data": self.data,
            "on_part_end": lambda: self.done.append(self.part),
        }

    def begin(self) -> None:
        self.part = Part()

    def header_end(self) -> None:
        if self._field.strip().lower() == b"content-type":
            self.part.content_type = self._value.strip().decode("latin-1")
        self._field = self._value = b""

    def data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.size += end - start
        if part.size > self.max_bytes:
            part.too_large = True
        if not part.too_large:
            part.file.write(data[start:end])


def parts(stream: IO[bytes], *, boundary: bytes, max_bytes: int) -> Iterator[Part]:
    """Each body part as soon as it is complete, its file rewound (the caller closes it)."""
    collector = _Collector(max_bytes)
    parser = MultipartParser(boundary, cast(Any, collector.callbacks()))
    while chunk := stream.read(CHUNK):
        parser.write(chunk)
        yield from _drain(collector)
    parser.finalize()
    yield from _drain(collector)


def _drain(collector: _Collector) -> Iterator[Part]:
    while collector.done:
        part = collector.done.pop(0)
        part.file.seek(0)
        yield part
