"""The shared shape of audited reads: require → load in scope → record → return."""

from __future__ import annotations

import uuid

import pytest

from hm_core.audit.models import AuditRecord
from hm_core.audit.services import audited_read, audited_read_each
from hm_core.common.errors import NotFound, PermissionDenied
from hm_core.common.scope import assert_scope_active


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
