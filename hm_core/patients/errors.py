"""Patient error codes."""

from hm_core.common.errors import Conflict


class DuplicateMrn(Conflict):
    default_code = "duplicate_mrn"
    default_message = "A patient with this MRN already exists in this tenant."
