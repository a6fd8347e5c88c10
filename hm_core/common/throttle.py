"""Counters over a time window, in Django's cache (Redis when `REDIS_URL` is set, else local).

A window opens at the first hit of a key and lasts `window_s`: a client that reaches the limit
stays refused until that window has passed (contract §17), whatever it sends meanwhile. Keys are
hashed, so that usernames and addresses are not stored in the cache in clear.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Limit:
    """At most `max_hits` in `window_s` seconds for one key of the counter named `name`."""

    name: str
    max_hits: int
    window_s: int


def now_s() -> float:
    """The throttle's clock (tests move it instead of sleeping)."""
    return time.time()


def _key(limit: Limit, subject: str) -> str:
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"hm:throttle:{limit.name}:{digest}"


def _window_start(key: str, limit: Limit, now: float) -> float:
    """The start of the key's open window; opens one (atomically, `add`) when none is open."""
    cache.add(f"{key}:start", now, timeout=limit.window_s)
    start = cache.get(f"{key}:start")
    if start is None or now >= float(start) + limit.window_s:
        cache.set(f"{key}:start", now, timeout=limit.window_s)
        cache.delete(f"{key}:{now}")  # a counter left by a window that opened at this instant
        start = now
    return float(start)


def retry_after(limit: Limit, subject: str) -> int | None:
    """Seconds until `subject` may try again when its window is full, else None."""
    key = _key(limit, subject)
    start = cache.get(f"{key}:start")
    now = now_s()
    if start is None or now >= float(start) + limit.window_s:
        return None
    if (cache.get(f"{key}:{start}") or 0) < limit.max_hits:
        return None
    return max(1, math.ceil(float(start) + limit.window_s - now))


def hit(limit: Limit, subject: str) -> int:
    """Count one hit of `subject` in its window; the count so far."""
    key = _key(limit, subject)
    start = _window_start(key, limit, now_s())
    counter = f"{key}:{start}"
    cache.add(counter, 0, timeout=limit.window_s)
    try:
        return int(cache.incr(counter))
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, timeout=limit.window_s)
        return 1


def reset(limit: Limit, subject: str) -> None:
    """Forget `subject`'s window (a successful sign-in clears its username's failures)."""
    key = _key(limit, subject)
    start = cache.get(f"{key}:start")
    cache.delete_many([f"{key}:start", f"{key}:{start}"])
