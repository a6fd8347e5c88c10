"""Contract §18 / issue 11 item 5: audit records, PHI reads included, are append-only and sealed
into a per-tenant hash chain whose head is signed with the events' checkpoints, so an edited or
deleted read record fails `verify_event_chain` and `/api/audit/verify/`."""

from __future__ import annotations

import importlib
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from hm_core.audit import trail
from hm_core.audit.models import AuditRecord, AuditTrailHead, AuditTrailLink
from hm_core.audit.services import phi_read_record
from hm_core.common.scope import scope_active
from hm_core.events.chain import verify_chain
from tests.patients.factories import register_patient

VERIFY_URL = "/api/audit/verify/"
TABLES = ("audit_auditrecord", "audit_audittraillink")
TRIGGERS = importlib.import_module("hm_core.audit.migrations.0003_append_only_triggers")


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path) -> Path:
    settings.CHAIN_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


@pytest.fixture
def reads(world):
    """A patient registered, then read twice by a doctor: events and PHI-read records."""
    patient = register_patient(world.api("nurse"), full_name="Anna Smith")
    for _ in range(2):
        assert world.api("doctor").get(f"/api/patients/{patient['id']}/").status_code == 200
    return patient


def _read_records(world) -> list[AuditRecord]:
    return list(
        AuditRecord.all_tenants.filter(tenant_id=world.tenant.id, kind="read").order_by(
            "occurred_at", "id"
        )
    )


def _param(value) -> str:
    return str(value) if connection.vendor == "postgresql" else value.hex


def _as_superuser(*statements: tuple[str, list]) -> None:
    """What only the tables' owner can do: run statements with the append-only triggers off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        else:
            for table in TABLES:
                for op in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER {table}_no_{op}")
        for sql, params in statements:
            cursor.execute(sql, params)
        for table in TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
            else:
                for op in ("update", "delete"):
                    cursor.execute(
                        TRIGGERS.SQLITE_TRIGGER.format(table=table, op=op, OP=op.upper())
                    )


def _trail_of(world) -> dict:
    response = world.api("auditor").get(VERIFY_URL)
    assert response.status_code == 200, response.content
    return response.json()


# --- sealing and checkpointing ---------------------------------------------------------------


def test_checkpoint_chain_seals_every_audit_record_and_signs_the_trails_head(
    world, reads, checkpoint_dir
):
    # when
    call_command("checkpoint_chain", "--tenant", "acme")

    # then
    records = AuditRecord.all_tenants.filter(tenant_id=world.tenant.id)
    links = AuditTrailLink.objects.filter(tenant_id=world.tenant.id).order_by("seq")
    head = AuditTrailHead.objects.get(tenant_id=world.tenant.id)
    assert len(_read_records(world)) == 2
    assert [link.seq for link in links] == list(range(1, records.count() + 1))
    assert {link.record_id for link in links} == set(records.values_list("id", flat=True))
    assert (head.seq, head.hash) == (links.last().seq, links.last().hash)
    [signed] = (checkpoint_dir / str(world.tenant.id) / trail.LOG).glob("*.json")
    document = json.loads(signed.read_text())
    assert (document["position"], document["head_hash"]) == (head.seq, head.hash)
    body = _trail_of(world)
    assert body["ok"] is True
    assert body["audit_trail"] == {
        "ok": True,
        "records_checked": head.seq,
        "head_hash": head.hash,
        "checkpoint": {"position": head.seq, "ok": True},
        "first_broken": None,
    }


def test_sealing_again_links_only_new_records_and_a_read_committed_late_is_not_missed(world, reads):
    # given a sealed trail
    assert trail.seal(world.tenant.id) == AuditRecord.all_tenants.count()
    assert trail.seal(world.tenant.id) == 0
    last = AuditRecord.all_tenants.filter(tenant_id=world.tenant.id).latest("occurred_at")

    # when a new read commits, and so does one stamped before the last sealed record (its
    # transaction was still open when the trail was sealed)
    doctor = world.scope("doctor")
    with scope_active(doctor):
        phi_read_record(scope=doctor, patient_id=last.patient_id, action="new.read")
    late = _read_records(world)[-1]
    late.id, late.action = uuid.uuid4(), "late.read"
    late.occurred_at = last.occurred_at - timedelta(minutes=5)
    late.save(force_insert=True)

    # then both are sealed after the others, and the trail verifies
    assert trail.seal(world.tenant.id) == 2
    newest = AuditTrailLink.objects.order_by("-seq")[:2]
    assert {link.record.action for link in newest} == {"new.read", "late.read"}
    assert trail.verify(world.tenant.id).ok


def test_the_read_path_still_writes_one_statement_and_seals_nothing(world, reads):
    doctor = world.scope("doctor")
    with scope_active(doctor), CaptureQueriesContext(connection) as sent:
        phi_read_record(scope=doctor, patient_id=None, action="probe.viewed")

    writes = [q["sql"] for q in sent.captured_queries if not q["sql"].startswith("SELECT")]
    assert [sql.split()[0] for sql in writes if "audit" in sql] == ["INSERT"]
    assert not AuditTrailLink.objects.exists()


# --- append-only -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditrecord SET action = 'x'",
        "DELETE FROM audit_auditrecord",
        "UPDATE audit_audittraillink SET hash = 'x'",
        "DELETE FROM audit_audittraillink",
    ],
)
def test_raw_update_and_delete_of_audit_records_and_links_are_refused_by_the_trigger(
    world, reads, statement
):
    trail.seal(world.tenant.id)
    before = AuditRecord.all_tenants.count(), AuditTrailLink.objects.count()

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)

    assert (AuditRecord.all_tenants.count(), AuditTrailLink.objects.count()) == before


# --- tampering (as the database's owner, triggers off) ----------------------------------------


def test_an_edited_read_record_fails_verification(world, reads):
    # given
    call_command("checkpoint_chain")
    victim = _read_records(world)[0]
    seq = AuditTrailLink.objects.get(record_id=victim.id).seq

    # when
    _as_superuser(
        ("UPDATE audit_auditrecord SET ip = '10.9.9.9' WHERE id = %s", [_param(victim.id)])
    )

    # then
    body = _trail_of(world)
    assert body["ok"] is False
    assert body["first_broken"] is None  # the events are intact
    assert body["audit_trail"]["first_broken"] == {
        "position": seq,
        "record_id": str(victim.id),
        "reason": "audit record or link edited",
    }
    with pytest.raises(CommandError, match="1 broken"):
        call_command("verify_event_chain", "--tenant", "acme")


def test_a_deleted_read_record_fails_verification(world, reads):
    call_command("checkpoint_chain")
    victim = _read_records(world)[1]

    _as_superuser(("DELETE FROM audit_auditrecord WHERE id = %s", [_param(victim.id)]))

    report = verify_chain(world.tenant.id).companions[trail.LOG]
    assert not report.ok
    assert report.first_broken["reason"] == "audit record deleted"
    assert report.first_broken["event_id"] == str(victim.id)


def test_a_deleted_record_with_its_link_and_the_head_fixed_up_fails_at_the_checkpoint(world, reads):
    # given the last record sealed and signed, then cut with its link, the head moved back
    call_command("checkpoint_chain")
    last = AuditTrailLink.objects.filter(tenant_id=world.tenant.id).order_by("-seq")
    tail, before = last[0], last[1]
    _as_superuser(
        ("DELETE FROM audit_auditrecord WHERE id = %s", [_param(tail.record_id)]),
        ("DELETE FROM audit_audittraillink WHERE id = %s", [tail.id]),
    )
    AuditTrailHead.objects.filter(tenant_id=world.tenant.id).update(
        seq=before.seq, hash=before.hash
    )

    # when
    report = verify_chain(world.tenant.id)

    # then
    companion = report.companions[trail.LOG]
    assert not report.ok and not companion.ok
    assert companion.checkpoint == {"position": tail.seq, "ok": False}
    assert companion.first_broken["reason"] == "chain ends before the signed checkpoint"


def test_an_edited_record_with_the_trail_rewritten_consistently_fails_at_the_checkpoint(
    world, reads
):
    # given a signed trail; then one read record edited and every link after it recomputed
    call_command("checkpoint_chain")
    victim = _read_records(world)[0]
    _as_superuser(
        ("UPDATE audit_auditrecord SET user_agent = 'forged' WHERE id = %s", [_param(victim.id)])
    )
    _rewrite_links_from(world, AuditTrailLink.objects.get(record_id=victim.id).seq)
    assert trail.verify(world.tenant.id).first_broken["reason"] != "audit record or link edited"

    # when
    body = _trail_of(world)

    # then
    assert body["ok"] is False
    assert body["audit_trail"]["checkpoint"]["ok"] is False
    assert body["audit_trail"]["first_broken"]["reason"] == (
        "hash does not match the signed checkpoint"
    )


def _rewrite_links_from(world, seq: int) -> None:
    links = AuditTrailLink.objects.filter(tenant_id=world.tenant.id).order_by("seq")
    previous = links.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    fields = trail.HASHED_FIELDS
    statements = []
    for link in links.filter(seq__gte=seq):
        record = AuditRecord.all_tenants.filter(id=link.record_id).values(*fields).get()
        previous = trail.link_hash(record, seq=link.seq, prev_hash=previous)
        statements.append(
            ("UPDATE audit_audittraillink SET hash = %s WHERE id = %s", [previous, link.id])
        )
    _as_superuser(*statements)
    AuditTrailHead.objects.filter(tenant_id=world.tenant.id).update(hash=previous)


def test_a_tenants_trail_is_verified_alone(world, other_world, reads):
    # given another tenant's trail edited
    register_patient(other_world.api())
    call_command("checkpoint_chain")
    theirs = AuditRecord.all_tenants.filter(tenant_id=other_world.tenant.id).first()
    _as_superuser(("UPDATE audit_auditrecord SET ip = 'x' WHERE id = %s", [_param(theirs.id)]))

    # then this tenant's is intact, the other's is not
    assert _trail_of(world)["ok"] is True
    assert _trail_of(other_world)["audit_trail"]["ok"] is False


def test_verify_with_no_sealed_record_yet_is_ok(world, reads):
    body = _trail_of(world)

    assert body["ok"] is True
    assert body["audit_trail"]["records_checked"] == 0
    assert body["audit_trail"]["checkpoint"] is None
