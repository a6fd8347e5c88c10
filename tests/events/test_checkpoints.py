"""Contract §18: signed checkpoints of the hash chain, written outside the database, catch what
the chain alone cannot: a rewrite consistent in itself and a tail cut off with the head fixed up."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from hm_core.events import checkpoints
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.events.chain import verify_chain
from hm_core.events.hashing import HASHED_FIELDS, row_hash
from hm_core.events.models import Event, TenantEventHead
from tests.events.sample_events import SampleHappened

FIELDS = {"tenant_id", "position", "head_hash", "signed_at", "signature", "public_key"}


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path) -> Path:
    settings.CHAIN_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


def _append(world, count: int = 3) -> None:
    stream = uuid.uuid4()
    publish(
        scope=world.scope(),
        stream=StreamRef("sample", stream),
        expected_version=0,
        events=[SampleHappened(sample_id=stream, note=f"n{i}") for i in range(count)],
    )


def _files(folder: Path, tenant_id) -> list[Path]:
    return sorted((folder / str(tenant_id)).glob("*.json"))


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text)


# --- writing ---------------------------------------------------------------------------------


def test_checkpoint_chain_writes_a_signed_head_per_tenant_in_the_contract_format(
    world, other_world, checkpoint_dir
):
    # given
    _append(world, 3)
    _append(other_world, 2)

    # when
    call_command("checkpoint_chain")

    # then
    for tenant, position in ((world.tenant, 3), (other_world.tenant, 2)):
        [path] = _files(checkpoint_dir, tenant.id)
        document = json.loads(path.read_text())
        head = TenantEventHead.objects.get(tenant_id=tenant.id)
        assert set(document) == FIELDS
        assert document["tenant_id"] == str(tenant.id)
        assert document["position"] == head.position == position
        assert document["head_hash"] == head.hash
        assert document["signed_at"].endswith("Z")


def test_a_third_party_verifies_the_signature_with_the_raw_public_key_only(world, checkpoint_dir):
    # given
    _append(world)
    call_command("checkpoint_chain", "--tenant", "acme")
    [path] = _files(checkpoint_dir, world.tenant.id)
    document = json.loads(path.read_text())

    # when: a verifier knowing only §18 rebuilds the message and checks it with the raw key
    message = json.dumps(
        {k: document[k] for k in ("tenant_id", "position", "head_hash", "signed_at")},
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    raw_key = _b64(document["public_key"])
    key = Ed25519PublicKey.from_public_bytes(raw_key)

    # then
    assert len(raw_key) == 32
    key.verify(_b64(document["signature"]), message)  # raises when it does not hold
    expected = Ed25519PrivateKey.from_private_bytes(_b64(django_settings.CHAIN_SIGNING_KEY))
    assert raw_key == expected.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    forged = message.replace(document["head_hash"].encode(), b"0" * 64)
    with pytest.raises(InvalidSignature):
        key.verify(_b64(document["signature"]), forged)


def test_the_same_head_is_checkpointed_once_and_a_new_head_gets_a_new_file(world, checkpoint_dir):
    _append(world, 2)
    call_command("checkpoint_chain")
    first = _files(checkpoint_dir, world.tenant.id)[0].read_text()
    call_command("checkpoint_chain")
    assert [p.name for p in _files(checkpoint_dir, world.tenant.id)] == [f"{2:020d}.json"]
    assert _files(checkpoint_dir, world.tenant.id)[0].read_text() == first

    _append(world, 1)
    call_command("checkpoint_chain")

    assert [p.stem for p in _files(checkpoint_dir, world.tenant.id)] == [
        f"{2:020d}",
        f"{3:020d}",
    ]


def test_a_tenant_without_events_gets_no_checkpoint_and_an_unknown_tenant_is_an_error(
    world, checkpoint_dir, capsys
):
    call_command("checkpoint_chain", "--tenant", "acme")
    assert "no events" in capsys.readouterr().out
    assert not checkpoint_dir.exists() or not any(checkpoint_dir.iterdir())
    with pytest.raises(CommandError, match="no tenant"):
        call_command("checkpoint_chain", "--tenant", "nobody")


def test_the_periodic_pass_signs_every_chained_tenant_once_per_interval(
    world, other_world, settings, checkpoint_dir, monkeypatch
):
    # given
    monkeypatch.setattr(checkpoints, "_last_periodic", None)
    settings.CHAIN_CHECKPOINT_SECONDS = 60
    _append(world)
    _append(other_world)

    # when / then
    assert checkpoints.checkpoint_if_due(now=1000.0) == 2
    _append(world)
    assert checkpoints.checkpoint_if_due(now=1030.0) == 0  # not due yet
    assert len(_files(checkpoint_dir, world.tenant.id)) == 1
    assert checkpoints.checkpoint_if_due(now=1061.0) == 2
    assert len(_files(checkpoint_dir, world.tenant.id)) == 2
    settings.CHAIN_CHECKPOINT_SECONDS = 0
    assert checkpoints.checkpoint_if_due(now=5000.0) == 0


def test_a_missing_or_malformed_signing_key_is_a_clear_error(world, settings):
    _append(world)
    settings.CHAIN_SIGNING_KEY = ""
    with pytest.raises(Exception, match="CHAIN_SIGNING_KEY is not set"):
        call_command("checkpoint_chain")
    settings.CHAIN_SIGNING_KEY = base64.urlsafe_b64encode(b"short").decode()
    with pytest.raises(Exception, match="32 bytes"):
        call_command("checkpoint_chain")


def test_production_settings_refuse_to_start_without_a_signing_key():
    environ = {k: v for k, v in os.environ.items() if k != "CHAIN_SIGNING_KEY"}
    run = subprocess.run(
        [sys.executable, "-c", "import config.settings.prod"],
        capture_output=True,
        text=True,
        env={
            **environ,
            "SECRET_KEY": "x" * 50,
            # every other key production needs, so that the signing key is what is missing
            "FIELD_ENCRYPTION_KEYS": "_ScKXoJL70ndhlkxYoLSZOKj2tG_T3_qfH-nb9CeySU=",
            "FIELD_BLIND_INDEX_KEY": "2U8sPe_ab47TeiccRlb_lQvWnYGUjoT5CgoJ_DLwEbQ=",
        },
        cwd=django_settings.BASE_DIR,
        check=False,
    )
    assert run.returncode != 0
    assert "CHAIN_SIGNING_KEY must be set" in run.stderr


# --- verifying -------------------------------------------------------------------------------


def _tampering():
    """Disable the immutability triggers the way only the database's owner could."""
    from contextlib import contextmanager

    @contextmanager
    def tampering():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE events_event DISABLE TRIGGER events_event_immutable")
                yield cursor
                cursor.execute("ALTER TABLE events_event ENABLE TRIGGER events_event_immutable")
            else:
                cursor.execute("DROP TRIGGER events_event_no_update")
                cursor.execute("DROP TRIGGER events_event_no_delete")
                yield cursor
                from hm_core.events.migrations_sql import SQLITE_FORWARD

                for statement in SQLITE_FORWARD:
                    cursor.execute(statement)

    return tampering()


def _db_id(value) -> str:
    return str(value) if connection.vendor == "postgresql" else uuid.UUID(str(value)).hex


def _rewrite_consistently(tenant_id, position: int, payload: dict) -> None:
    """Change one event's payload and recompute every later link and the head: the chain holds."""
    rows = list(
        Event.objects.filter(tenant_id=tenant_id, position__gte=position)
        .order_by("position")
        .values(*HASHED_FIELDS)
    )
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    previous = rows[0]["prev_hash"]
    with _tampering() as cursor:
        for row in rows:
            if row["position"] == position:
                row["payload"] = payload
            row["prev_hash"] = previous
            previous = row_hash(row)
            cursor.execute(
                f"UPDATE events_event SET payload = {cast}, prev_hash = %s, hash = %s "
                "WHERE id = %s",
                [json.dumps(row["payload"]), row["prev_hash"], previous, _db_id(row["id"])],
            )
    TenantEventHead.objects.filter(tenant_id=tenant_id).update(hash=previous)


def _cut_tail(tenant_id, keep: int) -> None:
    """Delete every event after `keep` and point the head at the new last one."""
    last = Event.objects.get(tenant_id=tenant_id, position=keep)
    with _tampering() as cursor:
        cursor.execute(
            "DELETE FROM events_event WHERE tenant_id = %s AND position > %s",
            [_db_id(tenant_id), keep],
        )
    TenantEventHead.objects.filter(tenant_id=tenant_id).update(position=keep, hash=last.hash)


def test_verify_holds_the_chain_against_its_latest_checkpoint(world):
    _append(world, 3)
    assert verify_chain(world.tenant.id).checkpoint is None
    call_command("checkpoint_chain")
    _append(world, 2)  # events after the checkpoint are fine

    report = verify_chain(world.tenant.id)

    assert report.ok and report.events_checked == 5
    assert report.checkpoint == {"position": 3, "ok": True}


def test_a_rewrite_consistent_in_itself_passes_the_chain_but_fails_the_checkpoint(world):
    # given
    _append(world, 4)
    call_command("checkpoint_chain")
    victim = Event.objects.get(tenant_id=world.tenant.id, position=2)

    # when: the superuser edits one payload and recomputes every later link and the head
    _rewrite_consistently(world.tenant.id, 2, {**victim.payload, "note": "forged"})

    # then: only the checkpoint catches it
    assert Event.objects.get(id=victim.id).payload["note"] == "forged"
    report = verify_chain(world.tenant.id)
    assert not report.ok
    assert report.events_checked == 4
    assert report.checkpoint == {"position": 4, "ok": False}
    assert report.first_broken["position"] == 4
    assert report.first_broken["reason"] == "hash does not match the signed checkpoint"
    with pytest.raises(CommandError, match="1 broken"):
        call_command("verify_event_chain", "--tenant", "acme")


def test_a_tail_cut_off_below_the_checkpoint_with_the_head_fixed_up_fails(world):
    # given
    _append(world, 5)
    call_command("checkpoint_chain")

    # when
    _cut_tail(world.tenant.id, keep=3)

    # then
    report = verify_chain(world.tenant.id)
    assert not report.ok
    assert report.events_checked == 3
    assert report.checkpoint == {"position": 5, "ok": False}
    assert report.first_broken == {
        "position": 5,
        "event_id": None,
        "reason": "chain ends before the signed checkpoint",
    }


def test_a_checkpoint_signed_with_another_key_or_edited_is_not_trusted(world, checkpoint_dir):
    # given
    _append(world, 2)
    call_command("checkpoint_chain")
    [path] = _files(checkpoint_dir, world.tenant.id)
    document = json.loads(path.read_text())

    # when: someone re-signs it with a key of their own
    rogue = Ed25519PrivateKey.generate()
    document["signature"] = base64.urlsafe_b64encode(
        rogue.sign(checkpoints.signed_message(document))
    ).decode()
    document["public_key"] = base64.urlsafe_b64encode(
        rogue.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    path.write_text(json.dumps(document))

    # then
    report = verify_chain(world.tenant.id)
    assert not report.ok
    assert report.checkpoint == {"position": 2, "ok": False}
    assert report.first_broken["reason"] == "checkpoint signature does not verify"


def test_an_earlier_key_listed_as_trusted_still_verifies_after_a_rotation(world, settings):
    _append(world, 2)
    call_command("checkpoint_chain")
    old_public = checkpoints.public_key_text()

    settings.CHAIN_SIGNING_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert not verify_chain(world.tenant.id).ok
    settings.CHAIN_TRUSTED_PUBLIC_KEYS = [old_public]

    assert verify_chain(world.tenant.id).checkpoint == {"position": 2, "ok": True}


def test_an_unreadable_latest_checkpoint_fails_verification(world, checkpoint_dir):
    _append(world, 2)
    call_command("checkpoint_chain")
    _files(checkpoint_dir, world.tenant.id)[0].write_text("{not json")

    report = verify_chain(world.tenant.id)

    assert not report.ok
    assert report.checkpoint == {"position": 2, "ok": False}
