"""The one place a coverage's member id is written and read (contract §15, §18).

A member id identifies the patient at the payer, so it is encrypted at rest: every write of it
(the `billing.coverage_added` event, hence the row its projection builds and the timeline entry)
goes through `member_id_store`, every read through `member_id_read`, both over
`hm_core.common.crypto`. Coverages recorded before encryption was wired in hold plaintext: their
stored events are upcast (`CoverageAdded` version 1 → 2) and their rows sealed by migration
`billing.0003_sealed_member_ids`; `member_id_read` still opens a plaintext value as it is, so a
row the migration has not reached yet reads the same.
"""

from __future__ import annotations

from hm_core.common.crypto import decrypt_field, is_encrypted, rotate_field, seal


def member_id_store(member_id: str) -> str:
    """The member id as it is kept in events and rows: a Fernet token (a token stays as it is)."""
    return seal(member_id)


def member_id_read(stored: str) -> str:
    """The member id as the client sent it, from its stored form (token, or legacy plaintext);
    a token no configured key opens raises `FieldKeyMissing`, never reads as blank."""
    return decrypt_field(stored) if is_encrypted(stored) else stored


def member_id_rotated(stored: str) -> str:
    """The stored form under the first key of `FIELD_ENCRYPTION_KEYS` (plaintext gets sealed)."""
    return rotate_field(stored) if is_encrypted(stored) else seal(stored)
