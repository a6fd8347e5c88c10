"""ORU^R01 → lab results entered, released or corrected (contract §11)."""

from __future__ import annotations

from hm_core.interop.hl7.message import Hl7Error
from hm_core.interop.mapping import Inbound


def result_message(inbound: Inbound) -> None:
    raise Hl7Error("Results are not mapped yet.", code="207")
