"""Local development: `make run`. DEBUG on unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import FIELD_BLIND_INDEX_KEY, FIELD_ENCRYPTION_KEYS, NINJA_JWT, env

DEBUG = env.bool("DEBUG", default=True)
if not SECRET_KEY:  # noqa: F405
    SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789"  # noqa: S105
    NINJA_JWT["SIGNING_KEY"] = SECRET_KEY
if not CHAIN_SIGNING_KEY:  # noqa: F405 - a development key: its checkpoints prove nothing
    CHAIN_SIGNING_KEY = "ZGV2LW9ubHktY2hhaW4tc2lnbmluZy1rZXktMDAwMDA="

# Loopback receivers are how developers and the suite test webhooks; nothing else private.
HM_WEBHOOK_ALLOWED_NETWORKS = env.list(
    "WEBHOOK_ALLOWED_NETWORKS", cast=str.strip, default=["127.0.0.0/8", "::1/128"]
)
HM_WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=True)  # loopback receivers

# Password reset and reminder emails are printed by `make run` (written as files under
# EMAIL_FILE_PATH when that is set) unless EMAIL_BACKEND says otherwise.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends."
    + ("filebased" if EMAIL_FILE_PATH else "console")  # noqa: F405
    + ".EmailBackend",
)

# Throw-away field keys so that `make run` needs no setup; never use them for real data.
FIELD_ENCRYPTION_KEYS = FIELD_ENCRYPTION_KEYS or ["t_bPxtnBFWEcqXLOONSVtZzRHxPLRjW2FoUhdaos714="]
FIELD_BLIND_INDEX_KEY = FIELD_BLIND_INDEX_KEY or "2U8sPe_ab47TeiccRlb_lQvWnYGUjoT5CgoJ_DLwEbQ="
