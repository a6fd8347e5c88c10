"""The principal of a request, cached per access token, tenant and facility (issue 10).

Authentication otherwise costs one query per request (the user joined to the membership, its roles
and the roles' permissions: `iam.selectors.user_and_principal`). An entry lives
`IAM_PRINCIPAL_CACHE_SECONDS` and its key carries two generation counters, one of the user and one
of the tenant: the `iam.*` events bump them (policies.py), which orphans every entry they made stale
at once, whatever token it was cached under, so a revoked membership or a deactivated user is
refused at the very next request.

Counters are bumped twice: in the transaction that appends the event (so the writer's own next
request misses) and again after commit, because a request that read the rows before the commit
may have cached the old state under the new counter in between.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

_PREFIX = "hm:principal"
logger = logging.getLogger(__name__)


def _gen_keys(user_id: uuid.UUID | str, tenant_id: uuid.UUID | str | None) -> list[str]:
    keys = [f"{_PREFIX}:gen:user:{user_id}"]
    if tenant_id is not None:
        keys.append(f"{_PREFIX}:gen:tenant:{tenant_id}")
    return keys


def _entry_key(
    token_id: str, user_id: uuid.UUID | str, tenant_id: uuid.UUID | str | None, facility_id: Any
) -> str:
    keys = _gen_keys(user_id, tenant_id)
    generations = cache.get_many(keys)
    stamp = ".".join(str(generations.get(key, 0)) for key in keys)
    return f"{_PREFIX}:{token_id}:{tenant_id}:{facility_id}:{stamp}"


def cached(
    *, token_id: str, user_id: uuid.UUID | str, tenant_id: Any = None, facility_id: Any = None
) -> tuple[str, Any]:
    """(key, value) for this token in this scope; the value is None on a miss (or when the
    cache is disabled or unreachable: authentication then reads the database, as before)."""
    if settings.IAM_PRINCIPAL_CACHE_SECONDS <= 0:
        return "", None
    try:
        key = _entry_key(token_id, user_id, tenant_id, facility_id)
        return key, cache.get(key)
    except Exception:  # a cache outage must not refuse valid users
        logger.warning("principal cache unavailable; reading the database", exc_info=True)
        return "", None


def store(key: str, value: Any) -> None:
    """Keep what authentication resolved under the key `cached` returned."""
    if not key:
        return
    try:
        cache.set(key, value, settings.IAM_PRINCIPAL_CACHE_SECONDS)
    except Exception:  # the entry is an optimisation only
        logger.warning("principal cache unavailable; entry not kept", exc_info=True)


def invalidate(*, user_ids: Sequence[uuid.UUID] = (), tenant_id: uuid.UUID | None = None) -> None:
    """Orphan the cached principals of these users (all tenants), or of a whole tenant; now,
    and once more when the current transaction commits."""
    keys = [_gen_keys(user_id, None)[0] for user_id in user_ids]
    if tenant_id is not None:
        keys.append(f"{_PREFIX}:gen:tenant:{tenant_id}")
    if not keys:
        return
    _bump(keys)
    transaction.on_commit(lambda: _bump(keys), robust=True)


def _bump(keys: list[str]) -> None:
    """A fresh value per bump (not a counter): one write, and no two bumps ever agree."""
    try:
        cache.set_many(dict.fromkeys(keys, uuid.uuid4().hex), None)
    except Exception:  # an unreachable cache serves no stale entry either
        logger.warning("principal cache unavailable; generations not bumped", exc_info=True)
