"""Abuse protection (contract §17): sign-in lockout per username and per client address, and
the API rate limit per user. Counters live in Django's cache (`hm_core.common.throttle`).

A cache that cannot be reached lets requests through (logged): the limits protect the service,
they must not take it down with Redis.
"""

from __future__ import annotations

import logging

from django.conf import settings

from hm_core.common import throttle
from hm_core.common.throttle import Limit
from hm_core.iam.errors import RateLimited, TooManyAttempts

logger = logging.getLogger("hm_core.iam.limits")


def _login_limits(*, username: str, ip: str | None) -> list[tuple[Limit, str]]:
    window = settings.HM_LOGIN_FAILURE_WINDOW_S
    found = [(Limit("login_user", settings.HM_LOGIN_MAX_FAILURES, window), _norm(username))]
    if ip:
        found.append((Limit("login_ip", settings.HM_LOGIN_MAX_FAILURES_PER_IP, window), ip))
    return found


def _norm(username: str) -> str:
    return username.strip().lower()


def login_refuse_when_locked(*, username: str, ip: str | None) -> None:
    """429 `too_many_attempts` while the username or the address has used up its failures,
    before the password is even looked at: the right password is refused too."""
    try:
        waits = [
            throttle.retry_after(lim, subj) for lim, subj in _login_limits(username=username, ip=ip)
        ]
    except Exception:
        logger.warning("sign-in counters unavailable; not enforcing the lockout", exc_info=True)
        return
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        raise TooManyAttempts(retry_after=wait)


def login_failed(*, username: str, ip: str | None) -> None:
    """Count one failed sign-in against the username and the address."""
    try:
        for limit, subject in _login_limits(username=username, ip=ip):
            throttle.hit(limit, subject)
    except Exception:
        logger.warning("sign-in counters unavailable; failure not counted", exc_info=True)


def login_succeeded(*, username: str) -> None:
    """A success clears the username's failures (not the address's: one valid account must not
    buy an address more guesses at the others)."""
    limit, subject = _login_limits(username=username, ip=None)[0]
    try:
        throttle.reset(limit, subject)
    except Exception:
        logger.warning("sign-in counters unavailable; failures not cleared", exc_info=True)


def api_rate_limit(*, user_id: str) -> None:
    """429 `rate_limited` past HM_RATE_LIMIT_PER_MINUTE authenticated requests of one user."""
    limit = Limit("api_user", settings.HM_RATE_LIMIT_PER_MINUTE, 60)
    try:
        count = throttle.hit(limit, user_id)
        wait = throttle.retry_after(limit, user_id) if count > limit.max_hits else None
    except Exception:
        logger.warning("rate-limit counters unavailable; not enforcing", exc_info=True)
        return
    if wait is not None:
        raise RateLimited(retry_after=wait)


def reset_email_allowed(*, username: str) -> bool:
    """At most HM_PASSWORD_RESET_EMAILS_PER_HOUR reset emails per username: the request still
    answers 202 (no enumeration), but nobody's mailbox can be flooded through us."""
    limit = Limit("reset_user", settings.HM_PASSWORD_RESET_EMAILS_PER_HOUR, 3600)
    try:
        return throttle.hit(limit, _norm(username)) <= limit.max_hits
    except Exception:
        logger.warning("reset counters unavailable; not enforcing", exc_info=True)
        return True
