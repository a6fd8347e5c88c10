"""Offset pagination of lists (contract §1): `{"items": [...], "count": <total>}`.

Two queries whatever the page size: the slice and the count.

Why not Ninja's `@paginate(LimitOffsetPagination)` (checked against django-ninja 1.7.1)? Its
response shape is the same `{items, count}`, so the shape is not the reason; these are:
- **One query schema per endpoint.** The paginator adds its own `limit`/`offset` query
  parameters (`LimitOffsetPagination.Input`, a second query schema). Our list filters
  (`<Entity>ListFilters`, built on `common.schemas.FilterSchema`) refuse every query key they do
  not declare, by putting back the keys Ninja did not map; beside the paginator's schema they
  would refuse `limit` and `offset` themselves (422 on every paged request), unless the
  filters stopped refusing unknown keys, which contract §11a requires. `PageParams` keeps the
  two page keys in the one schema the endpoint takes.
- **Validation, not clamping.** Ninja's `offset` has no upper bound (an offset beyond bigint
  is a database error, a 500) and a `limit` over `NINJA_PAGINATION_MAX_LIMIT` is silently cut
  to it; `PageParams` answers 422 for both, as the contract's other bad inputs do.
- **Pages inside services.** The paginator slices after the view returns. The audited paged
  reads (lab result list and versions, document versions) must know which rows the page holds
  to record what was disclosed, inside the service and its scope; `paginate` lets a service
  build the page, record it and return it, and the endpoints then all page the same way.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def paginate(qs: QuerySet[Any], *, limit: int, offset: int) -> dict[str, Any]:
    """One page of `qs` (`limit` rows from `offset`) and the total count."""
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}
