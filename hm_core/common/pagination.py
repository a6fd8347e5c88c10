"""Offset pagination of lists (contract §1): `{"items": [...], "count": <total>}`.

Two queries whatever the page size: the slice and the count.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def paginate(qs: QuerySet[Any], *, limit: int, offset: int) -> dict[str, Any]:
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}
