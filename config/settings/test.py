"""The test suite: fast password hashing, a fixed key, PostgreSQL when DATABASE_URL is set."""

from .base import *  # noqa: F403
from .base import NINJA_JWT

DEBUG = False
SECRET_KEY = "test-only-key-not-secret-0123456789abcdef0123456789"  # noqa: S105
NINJA_JWT["SIGNING_KEY"] = SECRET_KEY
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
