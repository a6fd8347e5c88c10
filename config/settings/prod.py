"""Production: `make serve`. DEBUG off, secure headers, SECRET_KEY required."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    CHAIN_SIGNING_KEY,
    DATABASES,
    FIELD_BLIND_INDEX_KEY,
    FIELD_ENCRYPTION_KEYS,
    SECRET_KEY,
    STORAGES,
    env,
)

DEBUG = False
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment for production")
if not FIELD_ENCRYPTION_KEYS or not FIELD_BLIND_INDEX_KEY:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS and FIELD_BLIND_INDEX_KEY must be set in the environment for "
        "production (docs/data-protection.md says how to make them)"
    )
if not CHAIN_SIGNING_KEY:
    raise ImproperlyConfigured(
        "CHAIN_SIGNING_KEY must be set in the environment for production (docs/integrity.md)"
    )

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
# Browsers keep to https for a year once they saw the header (sent on https requests only:
# behind a TLS-terminating proxy set BEHIND_PROXY). SECURE_HSTS_SECONDS=0 turns it off.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
# Behind a TLS-terminating reverse proxy that sets X-Forwarded-Proto.
if env.bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Serve collected static files (the API docs' assets, the admin) from gunicorn itself.
MIDDLEWARE = [*MIDDLEWARE]  # noqa: F405
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "hm_core.common.static.LenientManifestStaticFilesStorage"},
}
# Without `collectstatic`, serve the docs' and admin's assets from the installed apps.
WHITENOISE_USE_FINDERS = True
# No persistent connections by default: `make serve` runs ASGI (uvicorn) workers, where Django
# runs each request's sync code in a thread of its own with a connection of its own, so
# persistent connections pile up with concurrent requests until PostgreSQL's max_connections
# refuses new ones (`make bench` hit it). Django's advice for ASGI: CONN_MAX_AGE=0, and a pool.
# DB_CONN_MAX_AGE still overrides this for a WSGI deployment (the pool is then off).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# ...and a pool per server process instead (PostgreSQL): a request borrows a connection and
# gives it back when it ends, so a process holds at most DB_POOL_MAX_SIZE connections, opened
# once. 0 turns the pool off (e.g. behind PgBouncer in transaction mode). Size it so that
# processes times DB_POOL_MAX_SIZE stays under PostgreSQL's max_connections.
_pool_max = env.int("DB_POOL_MAX_SIZE", default=8)
if (
    DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
    and _pool_max > 0
    and DATABASES["default"]["CONN_MAX_AGE"] == 0
):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": _pool_max,
        "timeout": env.float("DB_POOL_TIMEOUT_S", default=10.0),
    }
