"""STOW-RS bodies and DICOM JSON store responses (PS3.18 §10.5), and WADO-RS metadata.

Each body part is stored as it completes (`multipart.parts` spools one part at a time). A part
that is not `application/dicom`, not a readable Part-10 file or over `DICOM_MAX_INSTANCE_BYTES`
is listed in FailedSOPSequence (00081198) with a FailureReason (00081197) and a text reason;
nothing of it is written. A duplicate SOP Instance UID is referenced again, stored once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import IO, Any

import pydicom
from django.http import HttpRequest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hm_core.common.scope import Scope
from hm_core.imaging import files, multipart, services
from hm_core.imaging.services import StoreOutcome

logger = logging.getLogger("hm_core.imaging")
# PS3.4 C.4.2.1.5 / PS3.18 failure reasons: cannot understand; out of resources.
CANNOT_UNDERSTAND, OUT_OF_RESOURCES = 0xC000, 0xA700


def store_body(scope: Scope, request: HttpRequest) -> list[StoreOutcome]:
    """Every part of the request body through `instance_store`, one at a time."""
    scope.require("imaging.store")
    boundary = multipart.boundary_of(request.headers.get("Content-Type", ""))
    outcomes = []
    limit = files.max_instance_bytes()
    for part in multipart.parts(request, boundary=boundary, max_bytes=limit):  # type: ignore[arg-type]
        with part.file:
            outcomes.append(_store_part(scope, part))
    return outcomes


def _store_part(scope: Scope, part: multipart.Part) -> StoreOutcome:
    kind = part.content_type.split(";")[0].strip().lower()
    if kind not in ("application/dicom", ""):
        outcome = StoreOutcome(services.REFUSED, reason=f"part is {kind}, not application/dicom")
    elif part.too_large:
        outcome = StoreOutcome(
            services.TOO_LARGE, reason=f"part larger than {files.max_instance_bytes()}"
        )
    else:
        outcome = services.instance_store(scope=scope, fp=part.file, received_via="STOW")
    logger.info(
        "stow: %s %s (%d bytes)%s",
        outcome.status,
        outcome.sop_instance_uid or "-",
        part.size,
        f": {outcome.reason}" if outcome.reason else "",
    )
    return outcome


def _referenced(outcome: StoreOutcome, base: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = outcome.sop_class_uid
    item.ReferencedSOPInstanceUID = outcome.sop_instance_uid
    item.RetrieveURL = (
        f"{base}/studies/{outcome.study_instance_uid}/series/{outcome.series_instance_uid}"
        f"/instances/{outcome.sop_instance_uid}"
    )
    return item


def _failed(outcome: StoreOutcome) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = outcome.sop_class_uid
    item.ReferencedSOPInstanceUID = outcome.sop_instance_uid
    too_large = outcome.status == services.TOO_LARGE
    item.FailureReason = OUT_OF_RESOURCES if too_large else CANNOT_UNDERSTAND
    item.TextValue = outcome.reason[:1024]  # (0040,A160) UT: why, in words (no PHI)
    return item


def store_response(outcomes: Iterable[StoreOutcome], *, base: str) -> dict[str, Any]:
    outcomes = list(outcomes)
    ds = Dataset()
    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    studies = {o.study_instance_uid for o in ok}
    if len(studies) == 1:
        ds.RetrieveURL = f"{base}/studies/{studies.pop()}"
    ds.ReferencedSOPSequence = Sequence([_referenced(o, base) for o in ok])
    if failed:
        ds.FailedSOPSequence = Sequence([_failed(o) for o in failed])
    return ds.to_json_dict()


def metadata_json(fp: IO[bytes]) -> dict[str, Any]:
    """The header of a stored file as DICOM JSON, the pixel data never read."""
    ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=1024 * 1024)
    return ds.to_json_dict(bulk_data_threshold=16 * 1024 * 1024)
