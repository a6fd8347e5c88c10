"""ADT A01/A04/A08/A11 → patient registration, demographics, encounters (contract §11)."""

from __future__ import annotations

from hm_core.interop.hl7.message import Hl7Error
from hm_core.interop.mapping import Inbound


def admit(inbound: Inbound) -> None:
    raise Hl7Error("ADT^A01/A04 is not mapped yet.", code="207")


def update_patient(inbound: Inbound) -> None:
    raise Hl7Error("ADT^A08 is not mapped yet.", code="207")


def cancel_admit(inbound: Inbound) -> None:
    raise Hl7Error("ADT^A11 is not mapped yet.", code="207")
