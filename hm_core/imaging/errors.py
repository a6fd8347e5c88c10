"""Imaging error codes.

Own codes: `invalid_dicom_query` (400: a QIDO-RS parameter that is not a DICOM match, e.g. a
malformed StudyDate range), `unsupported_media_type` (415: STOW-RS without
`multipart/related; type="application/dicom"`). From common errors: `not_found` (404, also for
another tenant's or facility's study or instance), `permission_denied` (403).
Per-instance refusals are not errors: STOW-RS lists them in `00081198` and C-STORE answers
0xC000 (unreadable) or 0xA700 (over `DICOM_MAX_INSTANCE_BYTES`).
"""

from hm_core.common.errors import BadRequest, UnsupportedMediaType


class InvalidDicomQuery(BadRequest):
    default_code = "invalid_dicom_query"
    default_message = "A query parameter is not a valid DICOM match."


class NotDicomMultipart(UnsupportedMediaType):
    default_message = 'STOW-RS takes multipart/related; type="application/dicom".'
