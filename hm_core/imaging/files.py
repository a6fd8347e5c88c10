"""DICOM Part-10 files: read the header only, keep the bytes in Django's storage.

An instance is never decoded whole: pydicom reads the header with large values deferred
(`defer_size`) and pixel data skipped, and the bytes are copied to storage in chunks. A file
whose declared element lengths run past its end (a truncated transfer) is refused, like one
without the Part-10 preamble and `DICM` prefix, or without the four identifying UIDs.
"""

from __future__ import annotations

import os
import uuid
from typing import IO, Any

import pydicom
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from pydicom.errors import InvalidDicomError

from hm_core.imaging import domain

STORAGE_ALIAS = "dicom"
_DEFER = 4096


class Unreadable(ValueError):
    """The bytes are not a DICOM instance hm_core can store; the message says why (no PHI)."""


def storage() -> Storage:
    return storages[STORAGE_ALIAS]


def max_instance_bytes() -> int:
    return int(getattr(settings, "DICOM_MAX_INSTANCE_BYTES", 536_870_912))


def size_of(fp: IO[bytes]) -> int:
    fp.seek(0, os.SEEK_END)
    size = fp.tell()
    fp.seek(0)
    return size


def read_header(fp: IO[bytes]) -> domain.Header:
    """The header of a Part-10 file (seekable, at its start); `Unreadable` when it is not one."""
    size = size_of(fp)
    try:
        ds = pydicom.dcmread(fp, defer_size=_DEFER, stop_before_pixels=False, force=False)
        end = fp.tell()
    except InvalidDicomError as exc:
        raise Unreadable("not a DICOM Part-10 file (no preamble and DICM prefix)") from exc
    except Exception as exc:  # pydicom raises many kinds on garbage; the type is the reason
        raise Unreadable(f"header cannot be read ({type(exc).__name__})") from exc
    finally:
        fp.seek(0)
    if end > size:
        raise Unreadable("truncated: an element runs past the end of the file")
    header = header_of(ds)
    problem = domain.header_problem(header)
    if problem:
        raise Unreadable(problem)
    return header


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def _int(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def header_of(ds: Any) -> domain.Header:
    meta = getattr(ds, "file_meta", None)
    return domain.Header(
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        transfer_syntax_uid=_text(meta, "TransferSyntaxUID") if meta else "",
        accession_number=_text(ds, "AccessionNumber"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_text(ds, "PatientBirthDate"),
        patient_sex=_text(ds, "PatientSex"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        study_id=_text(ds, "StudyID"),
        study_description=_text(ds, "StudyDescription"),
        referring_physician=_text(ds, "ReferringPhysicianName"),
        modality=_text(ds, "Modality"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        instance_number=_int(ds, "InstanceNumber"),
    )


def storage_key(tenant_id: uuid.UUID, header: domain.Header) -> str:
    """Unique per write: a lost duplicate race deletes its own file, never the winner's."""
    sid = domain.study_id(tenant_id, header.study_instance_uid)
    return f"{tenant_id}/{sid}/{header.sop_instance_uid}.{uuid.uuid4().hex[:12]}.dcm"


def save(key: str, fp: IO[bytes]) -> str:
    """Copy the file into storage chunk by chunk; the key the storage chose."""
    fp.seek(0)
    return storage().save(key, File(fp, name=key))


def delete(key: str) -> None:
    storage().delete(key)


def open_file(key: str) -> IO[bytes]:
    return storage().open(key, "rb")  # type: ignore[no-any-return]
