"""Encounter error codes.

`invalid_transition` (409) and `version_mismatch` (412) come from common errors; impossible
vitals are `validation_error` (422); a failed close gate is `close_gate_failed` (409) with the
failed rule codes as `details`.
"""

from hm_core.common.errors import Conflict


class CloseGateFailed(Conflict):
    default_code = "close_gate_failed"
    default_message = "The encounter cannot be closed yet: close-gate rules failed."
