"""HTTP endpoints of the documents module."""

from ninja import Router

router = Router(tags=["documents"])
