"""Local development: `make run`. DEBUG on unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import NINJA_JWT, env_bool

DEBUG = env_bool("DEBUG", default=True)
if not SECRET_KEY:  # noqa: F405
    SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789"  # noqa: S105
    NINJA_JWT["SIGNING_KEY"] = SECRET_KEY
