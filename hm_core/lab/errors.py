"""Laboratory error codes.

Own codes: `duplicate_barcode` (409, the barcode already names a tube of this facility) and
`same_user_verification` (403, the person who entered a result may not verify it) and
`duplicate_result` (409, an outside laboratory reported again a result hm_core already holds,
other than as a correction or as the unchanged final of its preliminary report).
From common errors: `invalid_transition` (409, `details.from` = the sample's or result's status;
also a result for an item that has one, or whose sample is not received), `version_mismatch`
(412, If-Match), `version_conflict` (409, a lost race), `not_found` (404, also another facility's
or tenant's sample, result or order item, and an item of a non-LAB order), `validation_error`
(422: an unknown analyte, a missing or wrong unit, a missing analyte, a bad value or shape, a
naive or future `received_at`) and `permission_denied` (403).
"""

from hm_core.common.errors import Conflict, Forbidden


class DuplicateBarcode(Conflict):
    default_code = "duplicate_barcode"
    default_message = "Another sample of this facility already has this barcode."


class SameUserVerification(Forbidden):
    default_code = "same_user_verification"
    default_message = "A result must be verified by someone other than the person who entered it."


class ResultAlreadyReported(Conflict):
    default_code = "duplicate_result"
    default_message = (
        "This order item already has a result from this report; send a correction instead."
    )
