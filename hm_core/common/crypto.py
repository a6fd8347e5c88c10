"""Field encryption at rest (contract §18): authenticated encryption and blind indexes.

Values are Fernet tokens (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a MultiFernet
built from `FIELD_ENCRYPTION_KEYS`: the first key encrypts, every key decrypts, so a new key is
put first and old tokens still read until `rotate_field_keys` re-encrypts them. The empty string
stays empty: "no phone" is not a secret, and it keeps optional fields cheap.

Equality search uses a blind index: HMAC-SHA256 of the normalised value under a key derived
(HKDF, one key per kind) from `FIELD_BLIND_INDEX_KEY`, which is independent of the encryption
keys so that rotating those never changes an index.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Every Fernet token starts with the version byte 0x80 and a 64-bit timestamp whose top bytes
# are zero until the year 36812: "gAAAAA" in URL-safe base64; the shortest token (empty
# plaintext) is 100 characters. No value our schemas accept as plaintext looks like that.
_TOKEN_PREFIX = "gAAAAA"  # noqa: S105 (a format marker, not a secret)
_MIN_TOKEN_LENGTH = 100


class FieldKeyMissing(RuntimeError):
    """A stored value cannot be decrypted with any configured key (a key was removed or the
    value was altered): never answered with a blank, always this error."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: field encryption needs a key")
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
    except (ValueError, UnicodeEncodeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS: each key must be 32 bytes in URL-safe base64 "
            "(as Fernet.generate_key() makes them)"
        ) from exc


def _keys() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def is_encrypted(value: str) -> bool:
    """Whether `value` is a token (as opposed to a plaintext value our schemas accept)."""
    return len(value) >= _MIN_TOKEN_LENGTH and value.startswith(_TOKEN_PREFIX)


def encrypt_field(value: str) -> str:
    """The value encrypted with the first key; "" stays "" (absence is not secret)."""
    if value == "":
        return ""
    return _keys().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_field(value: str) -> str:
    """The plaintext of a token made with any configured key; "" stays "".

    Raises `FieldKeyMissing` when no key opens it: a removed key must fail loudly, never read
    as an empty value."""
    if value == "":
        return ""
    try:
        return _keys().decrypt(value.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise FieldKeyMissing(
            "an encrypted field cannot be decrypted with FIELD_ENCRYPTION_KEYS: "
            "the key it was encrypted with is missing (or the value was altered)"
        ) from exc


def encrypt_bytes(value: bytes) -> bytes:
    """Bytes (a stored response body, say) as a token under the first key."""
    return _keys().encrypt(value)


def decrypt_bytes(value: bytes) -> bytes:
    """The bytes a token holds; bytes that are no token (stored before encryption) as they are."""
    if not value.startswith(_TOKEN_PREFIX.encode("ascii")):
        return value
    try:
        return _keys().decrypt(value)
    except InvalidToken as exc:
        raise FieldKeyMissing(
            "stored bytes cannot be decrypted with FIELD_ENCRYPTION_KEYS: key missing"
        ) from exc


def seal(value: str) -> str:
    """Encrypt a plaintext value; a token is kept as it is (idempotent)."""
    return value if is_encrypted(value) else encrypt_field(value)


def rotate_field(value: str) -> str:
    """The same plaintext under the first key ("" stays "")."""
    if value == "":
        return ""
    try:
        return _keys().rotate(value.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise FieldKeyMissing(
            "an encrypted field cannot be re-encrypted: none of FIELD_ENCRYPTION_KEYS opens it"
        ) from exc


_NOT_DIGITS = re.compile(r"[^0-9]")
_SEPARATORS = re.compile(r"[\s\-./]")


def normalized(kind: str, value: str) -> str:
    """The form two equal values share: phone digits (with a leading +), e-mail lower case,
    identifiers upper case without spaces, dashes, dots or slashes."""
    value = value.strip()
    if kind == "phone":
        return ("+" if value.startswith("+") else "") + _NOT_DIGITS.sub("", value)
    if kind == "email":
        return value.lower()
    return _SEPARATORS.sub("", value).upper()


@cache
def _index_key(kind: str, secret: str) -> bytes:
    if not secret:
        raise ImproperlyConfigured("FIELD_BLIND_INDEX_KEY is empty: blind indexes need a key")
    try:
        master = base64.urlsafe_b64decode(secret.encode("ascii"))
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_BLIND_INDEX_KEY must be URL-safe base64") from exc
    if len(master) != 32:
        raise ImproperlyConfigured("FIELD_BLIND_INDEX_KEY must be 32 bytes in URL-safe base64")
    info = b"hm_core blind index: " + kind.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def blind_index(kind: str, value: str) -> str:
    """A keyed hash of the normalised value for equality search ("" for an empty value).

    `kind` ("phone", "email", "national_id", "member_id", ...) separates the key, so equal
    strings of different kinds never share an index."""
    value = normalized(kind, value)
    if value.strip("+") == "":
        return ""
    key = _index_key(kind, settings.FIELD_BLIND_INDEX_KEY)
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


# Read models holding tokens register a re-encryption pass here (`rotate_field_keys` runs them
# all); each returns how many rows it rewrote.
Rotator = Callable[[], int]
_ROTATORS: dict[str, Rotator] = {}


def rotator(name: str) -> Callable[[Rotator], Rotator]:
    """Register `fn` as the key rotation of the read model `name`."""

    def register(fn: Rotator) -> Rotator:
        _ROTATORS[name] = fn
        return fn

    return register


def rotators() -> dict[str, Rotator]:
    return dict(sorted(_ROTATORS.items()))


def rotated_tokens(value: Any) -> Any:
    """`value` (JSON: objects, lists, strings) with every token in it re-encrypted."""
    if isinstance(value, str):
        return rotate_field(value) if is_encrypted(value) else value
    if isinstance(value, dict):
        return {key: rotated_tokens(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rotated_tokens(item) for item in value]
    return value
