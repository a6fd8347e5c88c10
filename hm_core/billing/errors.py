"""Billing error codes."""

from __future__ import annotations

from hm_core.common.errors import Conflict


class MixedCurrency(Conflict):
    """The encounter's active charges are in more than one currency: no single total exists."""

    default_code = "mixed_currency"
    default_message = (
        "The charges of this encounter are in more than one currency; they cannot be totalled."
    )
