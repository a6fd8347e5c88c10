"""HTTP endpoints of the encounters module."""

from ninja import Router

router = Router(tags=["encounters"])
