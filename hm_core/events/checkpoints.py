"""Signed checkpoints of the tenants' hash chains, kept outside the database (contract §18).

A checkpoint is one JSON file, `<CHAIN_CHECKPOINT_DIR>/<tenant_id>/<position>.json`:
`{tenant_id, position, head_hash, signed_at, signature, public_key}`. The signature is Ed25519
over the UTF-8 JSON of the first four fields (sorted keys, no spaces); `signature` and the raw
32-byte `public_key` are URL-safe base64, so any Ed25519 library can check one.

The hash chain alone proves a row was not changed unless every later row was rewritten too,
which whoever administers the database can do (or cut the tail and fix the head up). A signed
checkpoint the database's admin can neither forge (no private key) nor edit (the folder lives
elsewhere: docs/integrity.md) pins the chain at its position: a chain rewritten after it, however
consistent in itself, or cut below it, no longer matches.

One file per (tenant, position), created exclusively: two processes checkpointing the same head
write it once, and an existing checkpoint is never overwritten.

Other append-only logs of a tenant are checkpointed beside its events, in the same format, in a
subfolder named after the log (`<tenant_id>/audit-trail/<position>.json`: the audit trail, PHI
reads included, `hm_core.audit.trail`). They register with `also_checkpoint` (this package
imports no domain module), and every `write_checkpoint` of the tenant writes theirs first.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from hm_core.common import rls
from hm_core.common.time import isoformat
from hm_core.events.models import TenantEventHead

logger = logging.getLogger(__name__)

SIGNED_FIELDS = ("head_hash", "position", "signed_at", "tenant_id")


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or parsed; `position` is the one its name gives."""

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def signing_key() -> Ed25519PrivateKey:
    """The private key from `CHAIN_SIGNING_KEY` (a 32-byte seed, URL-safe base64)."""
    seed_text = settings.CHAIN_SIGNING_KEY
    if not seed_text:
        raise ImproperlyConfigured("CHAIN_SIGNING_KEY is not set (docs/integrity.md)")
    try:
        seed = _unb64(seed_text)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("CHAIN_SIGNING_KEY is not URL-safe base64") from exc
    if len(seed) != 32:
        raise ImproperlyConfigured("CHAIN_SIGNING_KEY must decode to 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PrivateKey | None = None) -> str:
    """The raw public key of `key` (default: the signing key), URL-safe base64."""
    public = (key or signing_key()).public_key()
    return _b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def trusted_public_keys() -> set[str]:
    """Keys a checkpoint may be signed with: the signing key's and `CHAIN_TRUSTED_PUBLIC_KEYS`."""
    keys = set(settings.CHAIN_TRUSTED_PUBLIC_KEYS)
    if settings.CHAIN_SIGNING_KEY:
        keys.add(public_key_text())
    return keys


def signed_message(document: dict[str, Any]) -> bytes:
    """The bytes the signature covers: the four signed fields, sorted, compact, UTF-8."""
    fields = {name: document[name] for name in SIGNED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def checkpoint_dir(tenant_id: uuid.UUID, log: str | None = None) -> Path:
    """The tenant's folder (its events' checkpoints), or the subfolder of another `log`."""
    folder = Path(settings.CHAIN_CHECKPOINT_DIR) / str(tenant_id)
    return folder / log if log else folder


# Writers of other logs' checkpoints, run by `write_checkpoint` for the tenant (registered from
# an apps.py ready(); a writer signs with `sign_head`).
_companion_writers: list[Callable[[uuid.UUID], object]] = []


def also_checkpoint(writer: Callable[[uuid.UUID], object]) -> None:
    """Have every checkpoint of a tenant's events also checkpoint another log of the tenant."""
    if writer not in _companion_writers:
        _companion_writers.append(writer)


@dataclass(frozen=True)
class Checkpoint:
    tenant_id: str
    position: int
    head_hash: str
    signed_at: str
    signature: str
    public_key: str
    file: str

    def as_document(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "position": self.position,
            "head_hash": self.head_hash,
            "signed_at": self.signed_at,
            "signature": self.signature,
            "public_key": self.public_key,
        }

    def signature_ok(self, tenant_id: uuid.UUID, trusted: set[str] | None = None) -> bool:
        """Signed by a trusted key, over these very fields, for this tenant."""
        if self.tenant_id != str(tenant_id) or self.public_key not in (
            trusted if trusted is not None else trusted_public_keys()
        ):
            return False
        try:
            key = Ed25519PublicKey.from_public_bytes(_unb64(self.public_key))
            key.verify(_unb64(self.signature), signed_message(self.as_document()))
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True


def write_checkpoint(tenant_id: uuid.UUID) -> Checkpoint | None:
    """Sign the tenant's current head and write it; None when the tenant has no events yet.
    The tenant's other logs (`also_checkpoint`) are checkpointed first.

    Idempotent: the head already checkpointed returns the checkpoint on file.
    """
    for companion in _companion_writers:
        companion(tenant_id)
    head = TenantEventHead.objects.filter(tenant_id=tenant_id).values("position", "hash").first()
    if head is None or head["position"] == 0:
        return None
    return sign_head(tenant_id, position=head["position"], head_hash=head["hash"])


def sign_head(
    tenant_id: uuid.UUID, *, position: int, head_hash: str, log: str | None = None
) -> Checkpoint:
    """Sign (`position`, `head_hash`) of the tenant's events (or of its `log`) and write the
    checkpoint file; the one already on file for that position is returned as it is."""
    folder = checkpoint_dir(tenant_id, log)
    path = folder / f"{position:020d}.json"
    if path.exists():
        return _read(path)
    key = signing_key()
    document: dict[str, Any] = {
        "tenant_id": str(tenant_id),
        "position": position,
        "head_hash": head_hash,
        "signed_at": isoformat(datetime.now(UTC)),
    }
    document["signature"] = _b64(key.sign(signed_message(document)))
    document["public_key"] = public_key_text(key)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        # Exclusive create: a concurrent writer of the same head wins, ours is dropped.
        with open(path, "x", encoding="utf-8") as handle:
            json.dump(document, handle, sort_keys=True, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:
        pass
    return _read(path)


def _read(path: Path) -> Checkpoint:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(
            tenant_id=str(data["tenant_id"]),
            position=int(data["position"]),
            head_hash=str(data["head_hash"]),
            signed_at=str(data["signed_at"]),
            signature=str(data["signature"]),
            public_key=str(data["public_key"]),
            file=path.name,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"unreadable checkpoint {path.name}", position=int(path.stem)
        ) from exc


def _files(tenant_id: uuid.UUID, log: str | None = None) -> list[Path]:
    folder = checkpoint_dir(tenant_id, log)
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.suffix == ".json" and p.stem.isdigit()),
        key=lambda p: int(p.stem),
        reverse=True,
    )


def checkpoint_count(tenant_id: uuid.UUID) -> int:
    return len(_files(tenant_id))


def checkpoint_page(tenant_id: uuid.UUID, *, limit: int, offset: int) -> list[Checkpoint]:
    """The tenant's checkpoints, highest position first."""
    return [_read(path) for path in _files(tenant_id)[offset : offset + limit]]


def latest_checkpoint(tenant_id: uuid.UUID, log: str | None = None) -> Checkpoint | None:
    """The tenant's checkpoint of the highest position (an unreadable one is an error), of its
    events or of another `log`."""
    files = _files(tenant_id, log)
    return _read(files[0]) if files else None


def write_all_checkpoints(tenant_ids: list[uuid.UUID]) -> list[Checkpoint]:
    """Checkpoint each tenant's head (tenants without events are skipped)."""
    written = []
    for tenant_id in tenant_ids:
        with rls.tenant(tenant_id):  # PostgreSQL: this tenant's head only
            checkpoint = write_checkpoint(tenant_id)
        if checkpoint is not None:
            written.append(checkpoint)
    return written


_last_periodic: float | None = None


def checkpoint_if_due(*, now: float | None = None) -> int:
    """The reconcilers' periodic pass: every `CHAIN_CHECKPOINT_SECONDS` (0: never) checkpoint
    every tenant's head. Returns how many tenants were checkpointed (0 when not due)."""
    global _last_periodic
    interval = settings.CHAIN_CHECKPOINT_SECONDS
    moment = time.monotonic() if now is None else now
    if interval <= 0 or (_last_periodic is not None and moment - _last_periodic < interval):
        return 0
    _last_periodic = moment
    return len(write_all_checkpoints(chained_tenant_ids()))


def chained_tenant_ids() -> list[uuid.UUID]:
    """Every tenant that has a chain (a head), whether or not it has a checkpoint yet."""
    return list(
        TenantEventHead.objects.filter(position__gt=0)
        .order_by("tenant_id")
        .values_list("tenant_id", flat=True)
    )
