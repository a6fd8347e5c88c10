"""The test suite: fast password hashing, a fixed key, PostgreSQL when DATABASE_URL is set."""

from .base import *  # noqa: F403
from .base import NINJA_JWT, env_list

DEBUG = False
SECRET_KEY = "test-only-key-not-secret-0123456789abcdef0123456789"  # noqa: S105
NINJA_JWT["SIGNING_KEY"] = SECRET_KEY
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

# Loopback receivers are how developers and the suite test webhooks; nothing else private.
HM_WEBHOOK_ALLOWED_NETWORKS = env_list(
    "WEBHOOK_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"]
)
HM_WEBHOOK_BACKOFF_SECONDS = 0  # retries are due at once; tests drive attempts explicitly
