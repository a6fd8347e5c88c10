"""Laboratory write use-cases — samples (create, receive, reject, cancel), results (enter,
verify, release, correct), results reported by an outside laboratory — and the audited reads
of results (patient data). Callers import from here."""

from hm_core.lab.services.external import ExternalReport, lab_result_accept_external
from hm_core.lab.services.reads import (
    lab_result_list_view,
    lab_result_versions_view,
    lab_result_view,
)
from hm_core.lab.services.results import (
    RESULT_STREAM,
    lab_result_correct,
    lab_result_enter,
    lab_result_release,
    lab_result_verify,
    result_state,
)
from hm_core.lab.services.samples import (
    SAMPLE_STREAM,
    sample_cancel_if_unneeded,
    sample_create,
    sample_receive,
    sample_reject,
    sample_state,
)

__all__ = [
    "RESULT_STREAM",
    "SAMPLE_STREAM",
    "ExternalReport",
    "lab_result_accept_external",
    "lab_result_correct",
    "lab_result_enter",
    "lab_result_list_view",
    "lab_result_release",
    "lab_result_verify",
    "lab_result_versions_view",
    "lab_result_view",
    "result_state",
    "sample_cancel_if_unneeded",
    "sample_create",
    "sample_receive",
    "sample_reject",
    "sample_state",
]
