"""Settings shared by every environment, all read from the environment.

With no `DATABASE_URL` hm_core runs on an embedded SQLite file under `var/` (zero set-up);
`DATABASE_URL=postgres://...` selects PostgreSQL, the production engine.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import environ
from corsheaders.defaults import default_headers as default_cors_headers

from hm_core.common.monitoring import sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent.parent


class _Env(environ.Env):
    """django-environ, reading only "1", "true", "yes" and "on" as true (any case), as ever."""

    BOOLEAN_TRUE_STRINGS = ("true", "on", "yes", "1")


def _environ() -> dict[str, str]:
    """The process environment as these settings read it.

    An empty variable counts as unset, so it takes its default (`make test-sqlite` runs with
    `DATABASE_URL=`). Every "$" is escaped, and unescaped again by `escape_proxy`: environ would
    otherwise read a value starting with "$" as the name of another variable, and a generated
    SECRET_KEY may start with one.
    """
    return {name: value.replace("$", r"\$") for name, value in os.environ.items() if value}


env = _Env()
env.escape_proxy = True
env.ENVIRON = _environ()


DEBUG = env.bool("DEBUG", default=False)
# Dev and test settings provide a throw-away key; production must set SECRET_KEY (prod.py checks).
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", cast=str.strip, default=["127.0.0.1", "localhost", "testserver"]
)

INSTALLED_APPS = [
    # First: its `runserver` serves the ASGI application (HTTP and /ws/events/) in `make run`.
    "daphne",
    "hm_core.iam.admin_site.HmAdminConfig",  # django.contrib.admin, superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "ninja",
    "ninja_jwt",
    "ninja_jwt.token_blacklist",
    # Platform packages first: their ready() hooks run before any module subscribes.
    "hm_core.events",
    "hm_core.iam",
    "hm_core.idempotency",
    # Modules. Subscribers run in the order their module registers them (see docs).
    "hm_core.patients",
    "hm_core.catalog",
    "hm_core.rules",
    "hm_core.encounters",
    "hm_core.alerts",
    "hm_core.orders",
    "hm_core.lab",
    "hm_core.billing",
    "hm_core.tasks",
    "hm_core.documents",
    "hm_core.timeline",
    "hm_core.audit",
    "hm_core.webhooks",
    "hm_core.interop",
    "hm_core.imaging",
    "hm_core.scheduling",
    "hm_core.notifications",
    "hm_core.realtime",
    "hm_core.reports",
    "hm_core.fhir",
    "management",
]

MIDDLEWARE = [
    # Outermost: every request starts as DB_APP_ROLE with no tenant (PostgreSQL RLS).
    "hm_core.common.rls.RowLevelSecurityMiddleware",
    "hm_core.common.middleware.RequestIdMiddleware",
    "hm_core.common.middleware.ApiHeadersMiddleware",
    # Answers CORS preflights early, after the request id so that they carry one too.
    "corsheaders.middleware.CorsMiddleware",
    "hm_core.common.middleware.ApiErrorBodyMiddleware",
    "hm_core.idempotency.middleware.IdempotencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "hm_core.common.middleware.ApiCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_env() -> dict[str, Any]:
    """PostgreSQL from `DATABASE_URL`, else the embedded SQLite file under `var/`."""
    url = env.str("DATABASE_URL", default="").strip()
    if url:
        max_age = env.int("DB_CONN_MAX_AGE", default=0)
        config = dict(dj_database_url.parse(url, conn_max_age=max_age))
        config["CONN_HEALTH_CHECKS"] = True
        # Django's backend plus row-level security state (hm_core/common/rls.py).
        config["ENGINE"] = "hm_core.common.pg"
        return config
    (BASE_DIR / "var").mkdir(exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "var" / "hm_core.sqlite3")),
        # IMMEDIATE takes the write lock at BEGIN: writers queue instead of failing with
        # "database is locked" when two transactions both try to upgrade a read lock.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }


DATABASES = {"default": database_from_env()}
# Row-level security (PostgreSQL, contract §18): tenant work runs as this role (created by the
# migrations: no ownership, no BYPASSRLS), switched to with SET ROLE; docs/integrity.md.
DB_APP_ROLE = env.str("DB_APP_ROLE", default="hm_app")
HM_ROW_LEVEL_SECURITY = env.bool("DB_ROW_LEVEL_SECURITY", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "iam.User"

# Contract §17: at least 12 characters, not common, not all digits, not like the username.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password reset tokens (contract §17): single use, valid one hour.
PASSWORD_RESET_TIMEOUT = 3600
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="hm_core <noreply@localhost>")
# With EMAIL_FILE_PATH set (and no EMAIL_BACKEND), e-mails are written to files there.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default="") or None
if EMAIL_FILE_PATH and not env.str("EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

REDIS_URL = env.str("REDIS_URL", default="")
# Wake-ups are sent after a command commits, on the request path: a hung Redis may cost the
# request this much (connect, then read), never more; the reconciler makes up for lost sends.
HM_BROKER_SEND_TIMEOUT_MS = env.int("BROKER_SEND_TIMEOUT_MS", default=50)

# Real-time events (contract §19, docs/realtime.md). With REDIS_URL, commits are announced to
# every ASGI process through channels-redis's pub/sub layer; without it, PostgreSQL NOTIFY
# (sent after commit) or, on SQLite, a poll of the tenants' heads every HM_REALTIME_POLL_MS.
# With a broker or NOTIFY the poll still runs, slower, so that a lost announcement only delays.
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": (
        {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "hm_rt"},
        }
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
HM_REALTIME_POLL_MS = env.int("REALTIME_POLL_MS", default=100)
HM_REALTIME_SAFETY_POLL_MS = env.int("REALTIME_SAFETY_POLL_MS", default=2000)
# How often an open socket re-reads its user's membership (revocation closes it with 4403).
HM_REALTIME_RECHECK_SECONDS = env.float("REALTIME_RECHECK_SECONDS", default=10.0)
HM_REALTIME_AUTH_TIMEOUT_SECONDS = env.float("REALTIME_AUTH_TIMEOUT_SECONDS", default=10.0)
# `after` may reach this many events back; further is refused (`replay_too_long`): use REST.
HM_REALTIME_MAX_REPLAY = env.int("REALTIME_MAX_REPLAY", default=20000)
# Events queued for one slow socket before it falls back to reading the store itself.
HM_REALTIME_QUEUE_MAX = env.int("REALTIME_QUEUE_MAX", default=2000)

# Sign-in lockout and rate-limit counters (contract §17) live in the cache: Redis when
# REDIS_URL is set (shared by every process), else this process's memory.
_CACHE_TIMEOUT_S = env.int("CACHE_TIMEOUT_MS", default=200) / 1000
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "hm",
            "OPTIONS": {
                "socket_connect_timeout": _CACHE_TIMEOUT_S,
                "socket_timeout": _CACHE_TIMEOUT_S,
            },
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hm"}
    )
}
# The principal of a request (user, membership, permissions) is cached per access token,
# tenant and facility for this many seconds; the iam.* events orphan stale entries at once.
# Without Redis the cache is each process's own, which another process's revocation cannot
# reach: caching is then off (0) unless set explicitly (a single-process server may).
IAM_PRINCIPAL_CACHE_SECONDS = env.int("IAM_PRINCIPAL_CACHE_SECONDS", default=30 if REDIS_URL else 0)
# 5 failed token requests for one username, or 50 from one client address, within 15 minutes:
# every token request for it is refused (429 too_many_attempts) until the window has passed.
HM_LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=5)
HM_LOGIN_MAX_FAILURES_PER_IP = env.int("LOGIN_MAX_FAILURES_PER_IP", default=50)
HM_LOGIN_FAILURE_WINDOW_S = env.int("LOGIN_FAILURE_WINDOW_S", default=900)
# Password reset emails per username per hour; more requests still answer 202 but send nothing.
HM_PASSWORD_RESET_EMAILS_PER_HOUR = env.int("PASSWORD_RESET_EMAILS_PER_HOUR", default=5)
# Authenticated API requests per user per minute (429 rate_limited beyond).
HM_RATE_LIMIT_PER_MINUTE = env.int("RATE_LIMIT_PER_MINUTE", default=1200)
# Reverse proxies (CIDRs) whose X-Forwarded-For names the client; none by default.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", cast=str.strip, default=[])
for _cidr in TRUSTED_PROXIES:
    ipaddress.ip_network(_cidr, strict=False)  # a typo fails at start-up, not per request

NINJA_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=10)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": SECRET_KEY,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# Browser clients (contract §11a): origins allowed to call the API, none by default. Credentials
# are allowed so that the refresh-token cookie (`?cookie=1` on /api/auth/token/) can travel.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", cast=str.strip, default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = [
    *default_cors_headers,
    "x-tenant-id",
    "x-facility-id",
    "idempotency-key",
    "if-match",
    "x-request-id",
]
CORS_EXPOSE_HEADERS = ["etag", "x-request-id", "idempotent-replayed"]

# Error monitoring (contract §11a): unhandled errors to Sentry with PHI scrubbed.
SENTRY_DSN = env.str("SENTRY_DSN", default="").strip()
if SENTRY_DSN:
    sentry_init(dsn=SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default="") or None)

# Audit records of PHI reads commit without waiting for their WAL flush (PostgreSQL
# `synchronous_commit = off` for that transaction only): a read costs no disk flush, and a
# database crash may lose the last ~0.6 s of read records (never a clinical write). Set
# AUDIT_READS_SYNCHRONOUS=1 to flush each read's record before the response goes out.
HM_AUDIT_READS_SYNCHRONOUS = env.bool("AUDIT_READS_SYNCHRONOUS", default=False)

# How long a stored idempotent response is replayed (contract: 24 h).
HM_IDEMPOTENCY_TTL = timedelta(hours=env.int("IDEMPOTENCY_TTL_HOURS", default=24))
# Outbound webhooks: attempts before a delivery is dead-lettered, backoff base, timeout, and
# the networks a webhook URL may resolve into although they are private (SSRF guard). Dev and
# test settings allow loopback only; production allows none unless configured.
HM_WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
HM_WEBHOOK_BACKOFF_SECONDS = env.int("WEBHOOK_BACKOFF_SECONDS", default=5)
HM_WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=5)
# How long a claimed delivery is left to its sender before it falls due again for another: past
# the timeout (which applies per socket operation), short enough that a killed sender's
# deliveries are soon retried. An attempt outliving its lease is not recorded (sent twice at
# worst; receivers drop duplicates by X-HM-Delivery).
HM_WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=3 * HM_WEBHOOK_TIMEOUT_SECONDS)
HM_WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", cast=str.strip, default=[])
# Webhooks carry PHI and a signature: https only, unless a deployment says otherwise.
HM_WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
# Embedded mode (no REDIS_URL): each server process redelivers stranded and due webhook
# deliveries and drains lagging subscriptions every this many seconds (0 in EMBEDDED_RECONCILER
# turns it off, e.g. when `manage.py run_reconciler` runs instead).
HM_EMBEDDED_RECONCILER = env.bool("EMBEDDED_RECONCILER", default=True)
HM_EMBEDDED_RECONCILER_SECONDS = env.int("EMBEDDED_RECONCILER_SECONDS", default=10)
# Appointment reminders (contract §14): how long before the start, the SMS backend (a dotted
# path: hm_core.notifications.sms.ConsoleBackend / FileBackend / LocmemBackend, or your
# gateway's), and the retries of a failed send (attempts, exponential backoff base).
HM_REMINDER_LEAD_MINUTES = env.int("REMINDER_LEAD_MINUTES", default=24 * 60)
HM_SMS_BACKEND = env.str("SMS_BACKEND", default="hm_core.notifications.sms.ConsoleBackend")
HM_SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(BASE_DIR / "var" / "sms"))
HM_NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
HM_NOTIFICATION_BACKOFF_SECONDS = env.int("NOTIFICATION_BACKOFF_SECONDS", default=60)
HM_NOTIFICATION_LEASE_SECONDS = env.int("NOTIFICATION_LEASE_SECONDS", default=60)
# Signed chain checkpoints (contract §18): the Ed25519 private key (a 32-byte seed in URL-safe
# base64; dev and test settings have a default, production refuses to start without one), the
# folder the checkpoints are written to (outside the database: see docs/integrity.md), how often
# the reconciler (`make worker`, or the embedded one) writes them (0: never), and the public keys
# a verifier trusts besides the signing key's own (an earlier key after a rotation).
CHAIN_SIGNING_KEY = env.str("CHAIN_SIGNING_KEY", default="")
CHAIN_CHECKPOINT_DIR = env.str(
    "CHAIN_CHECKPOINT_DIR", default=str(BASE_DIR / "var" / "checkpoints")
)
CHAIN_CHECKPOINT_SECONDS = env.int("CHAIN_CHECKPOINT_SECONDS", default=300)
CHAIN_TRUSTED_PUBLIC_KEYS = env.list("CHAIN_TRUSTED_PUBLIC_KEYS", cast=str.strip, default=[])
# Policies may raise events that raise events; past this depth the command is refused.
HM_BUS_MAX_DEPTH = env.int("BUS_MAX_DEPTH", default=8)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    # runserver's request log prints the whole request line: query strings carry PHI.
    "filters": {"no_query_string": {"()": "hm_core.common.logging.StripQueryString"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "loggers": {
        "django.server": {
            "handlers": ["django.server"],
            "filters": ["no_query_string"],
            "level": "INFO",
            "propagate": False,
        },
        # daphne's runserver (`make run`) logs each request's path with its query string.
        "django.channels.server": {
            "handlers": ["console"],
            "filters": ["no_query_string"],
            "level": "INFO",
            "propagate": False,
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# HL7 v2 interfaces (contract §11). Outbound: attempts before DEAD, the first retry delay
# (doubling), the wait for an ACK. MLLP listener: idle connections closed after, largest frame,
# messages applied at once across connections.
HL7_OUTBOUND_MAX_ATTEMPTS = env.int("HL7_OUTBOUND_MAX_ATTEMPTS", default=8)
HL7_OUTBOUND_BACKOFF_S = env.int("HL7_OUTBOUND_BACKOFF_S", default=5)
HL7_OUTBOUND_TIMEOUT_S = env.int("HL7_OUTBOUND_TIMEOUT_S", default=10)
HL7_MLLP_IDLE_TIMEOUT_S = env.int("HL7_MLLP_IDLE_TIMEOUT_S", default=300)
HL7_MLLP_MAX_BYTES = env.int("HL7_MLLP_MAX_BYTES", default=1_048_576)
HL7_MLLP_WORKERS = env.int("HL7_MLLP_WORKERS", default=8)

# Imaging (contract §13): DICOM files in Django's storage under the "dicom" alias (a local
# directory by default; point STORAGES["dicom"] at any django-storages backend in production),
# metadata in the database; one instance at most DICOM_MAX_INSTANCE_BYTES.
DICOM_STORAGE_ROOT = env.str("DICOM_STORAGE_ROOT", default=str(BASE_DIR / "var" / "dicom"))
DICOM_MAX_INSTANCE_BYTES = env.int("DICOM_MAX_INSTANCE_BYTES", default=536_870_912)
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dicom": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DICOM_STORAGE_ROOT},
    },
}

# FHIR Bulk Data (contract §12): NDJSON export files, one folder per export, kept until the
# export is deleted (DELETE on its status URL) or FHIR_EXPORT_TTL_HOURS have passed.
FHIR_EXPORT_ROOT = env.str("FHIR_EXPORT_ROOT", default=str(BASE_DIR / "var" / "fhir-exports"))
FHIR_EXPORT_TTL_HOURS = env.int("FHIR_EXPORT_TTL_HOURS", default=24)
# Field encryption at rest (contract §18, docs/data-protection.md): Fernet keys, comma-separated,
# the first encrypts and every one decrypts; the blind-index key (32 bytes, URL-safe base64) is
# separate so that rotating encryption keys never changes a search index. Dev and test settings
# have defaults; production refuses to start without both.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", cast=str.strip, default=[])
FIELD_BLIND_INDEX_KEY = env.str("FIELD_BLIND_INDEX_KEY", default="")
# Break-glass access to a confidential patient lasts this long (contract §18: one hour).
BREAK_GLASS_SECONDS = env.int("BREAK_GLASS_SECONDS", default=3600)
