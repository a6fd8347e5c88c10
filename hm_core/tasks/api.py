"""HTTP endpoints of the tasks module."""

from ninja import Router

router = Router(tags=["tasks"])
