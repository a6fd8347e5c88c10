"""ORM^O01 and OML^O21 → orders placed and cancelled (contract §11)."""

from __future__ import annotations

from hm_core.interop.hl7.message import Hl7Error
from hm_core.interop.mapping import Inbound


def order_message(inbound: Inbound) -> None:
    raise Hl7Error("Orders are not mapped yet.", code="207")
