"""The shared shape of audited reads: require → load in scope → record → return."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from hm_core.audit.models import AuditRecord
from hm_core.audit.services import _insert_without_flush_wait, audited_read, audited_read_each
from hm_core.common.errors import NotFound, PermissionDenied
from hm_core.common.scope import assert_scope_active
from hm_core.common.time import utcnow


def _reads(world) -> list[tuple[str, uuid.UUID | None, dict]]:
    # unscoped on purpose: the probe reads the rows, whichever facility wrote them
    rows = AuditRecord.all_tenants.filter(tenant_id=world.tenant.id, kind=AuditRecord.Kind.READ)
    return [(r.action, r.patient_id, r.detail) for r in rows.order_by("occurred_at", "id")]


def test_audited_read_loads_in_scope_records_the_action_and_returns_what_it_loaded(world):
    # given
    patient = uuid.uuid4()

    def load() -> str:
        assert_scope_active("probe")  # the guard sees the active scope
        return "loaded"

    # when
    got = audited_read(
        scope=world.scope("admin"),
        permission="patients.view",
        action="probe.viewed",
        load=load,
        patient_of=lambda _: patient,
        detail=lambda value: {"value": value},
    )

    # then
    assert got == "loaded"
    assert _reads(world) == [("probe.viewed", patient, {"value": "loaded"})]


def test_audited_read_records_nothing_when_the_load_is_not_found_or_permission_missing(world):
    def missing() -> None:
        raise NotFound(details={"resource": "probe"})

    with pytest.raises(NotFound):
        audited_read(
            scope=world.scope("admin"),
            permission="patients.view",
            action="probe.viewed",
            load=missing,
            patient_of=lambda _: None,
        )
    with pytest.raises(PermissionDenied):
        audited_read(
            scope=world.scope("admin"),
            permission="no.such_permission",
            action="probe.viewed",
            load=lambda: "x",
            patient_of=lambda _: None,
        )
    assert _reads(world) == []


def test_audited_read_each_records_one_row_per_disclosed_patient(world):
    first, second = uuid.uuid4(), uuid.uuid4()
    audited_read_each(
        scope=world.scope("admin"),
        permission="patients.view",
        action="probe.listed",
        load=lambda: [first, second],
        reads=lambda ids: [(i, {"id": str(i)}) for i in ids],
    )
    assert sorted(_reads(world), key=lambda r: r[2]["id"]) == sorted(
        [
            ("probe.listed", first, {"id": str(first)}),
            ("probe.listed", second, {"id": str(second)}),
        ],
        key=lambda r: r[2]["id"],
    )


def test_a_read_disclosing_many_patients_writes_its_records_in_one_statement(world):
    patients = [uuid.uuid4() for _ in range(25)]

    with CaptureQueriesContext(connection) as sent:
        audited_read_each(
            scope=world.scope("admin"),
            permission="patients.view",
            action="probe.listed",
            load=lambda: patients,
            reads=lambda loaded: [(p, {}) for p in loaded],
        )

    inserts = [q["sql"] for q in sent.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and len(sent.captured_queries) <= 3  # (a savepoint around it)
    assert sorted(p for _, p, _ in _reads(world)) == sorted(patients)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_read_alone_commits_its_record_without_waiting_for_the_wal_flush(world, settings):
    def read() -> list[str]:
        with CaptureQueriesContext(connection) as sent:
            audited_read(
                scope=world.scope("admin"),
                permission="patients.view",
                action="probe.viewed",
                load=lambda: "x",
                patient_of=lambda _: None,
            )
        return [q["sql"] for q in sent.captured_queries]

    relaxed = read()
    settings.HM_AUDIT_READS_SYNCHRONOUS = True
    strict = read()

    # one statement writes the record and sets synchronous_commit off for its transaction
    (relaxing,) = [sql for sql in relaxed if "synchronous_commit" in sql]
    assert "INSERT INTO" in relaxing and "set_config('synchronous_commit', 'off', true)" in relaxing
    assert not any("synchronous_commit" in sql for sql in strict)
    assert [a for a, _, _ in _reads(world)] == ["probe.viewed", "probe.viewed"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_relaxed_insert_turns_synchronous_commit_off_for_its_transaction_only(world):
    record = AuditRecord(
        tenant_id=world.tenant.id,
        facility_id=world.main.id,
        kind=AuditRecord.Kind.READ,
        action="probe.viewed",
        occurred_at=utcnow(),
        detail={},
    )
    with transaction.atomic(), connection.cursor() as cursor:
        _insert_without_flush_wait([record])
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert [a for a, _, _ in _reads(world)] == ["probe.viewed"]
