"""The test suite: fast password hashing, a fixed key, PostgreSQL when DATABASE_URL is set."""

import os
import tempfile
import uuid

from .base import *  # noqa: F403
from .base import DATABASES, NINJA_JWT, STORAGES, env

DEBUG = False
SECRET_KEY = "test-only-key-not-secret-0123456789abcdef0123456789"  # noqa: S105
NINJA_JWT["SIGNING_KEY"] = SECRET_KEY
CHAIN_SIGNING_KEY = "dGVzdC1vbmx5LWNoYWluLXNpZ25pbmcta2V5LTAwMDA="
CHAIN_CHECKPOINT_SECONDS = 0  # tests write checkpoints themselves
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
FIELD_ENCRYPTION_KEYS = ["_ScKXoJL70ndhlkxYoLSZOKj2tG_T3_qfH-nb9CeySU="]
FIELD_BLIND_INDEX_KEY = "2U8sPe_ab47TeiccRlb_lQvWnYGUjoT5CgoJ_DLwEbQ="

# Loopback receivers are how developers and the suite test webhooks; nothing else private.
HM_WEBHOOK_ALLOWED_NETWORKS = env.list(
    "WEBHOOK_ALLOWED_NETWORKS", cast=str.strip, default=["127.0.0.0/8", "::1/128"]
)
HM_WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=True)  # loopback receivers
HM_EMBEDDED_RECONCILER = False  # tests run reconciler passes themselves
HM_WEBHOOK_BACKOFF_SECONDS = 0  # retries are due at once; tests drive attempts explicitly
HM_NOTIFICATION_BACKOFF_SECONDS = 0
HM_SMS_BACKEND = "hm_core.notifications.sms.LocmemBackend"

# Test databases are named per run (`test_hm_core_<run>_gw0`, ...): two checkouts, or two runs,
# on one PostgreSQL server never drop each other's databases. xdist gives its workers one shared
# run id; a plain `pytest` run makes its own.
_RUN_ID = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex)[:10]
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_RUN_ID}"}

# DICOM files of the suite go to a scratch directory of this run, never to var/dicom/.
DICOM_STORAGE_ROOT = tempfile.mkdtemp(prefix="hm_dicom_test_")
STORAGES["dicom"]["OPTIONS"]["location"] = DICOM_STORAGE_ROOT

# Checkpoints of the suite go to a scratch directory of this run, never to var/checkpoints/.
CHAIN_CHECKPOINT_DIR = tempfile.mkdtemp(prefix="hm_checkpoints_test_")

# The suite clears the cache before every test: never a shared Redis, whatever REDIS_URL says.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The principal cache is off here, so the statement counts of other modules' tests do not
# depend on whether a request is a user's first; tests/iam turns it on (tests/iam/conftest.py)
# to prove that a hit costs nothing and that the iam events orphan stale entries.
IAM_PRINCIPAL_CACHE_SECONDS = 0
