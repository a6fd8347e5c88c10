"""The OPD report's visit read in a unit of work of many encounters (a FHIR Bundle): the row a
command already wrote is taken from the command, and a read of another visit does not flush
the command's queued writes first. What the report holds must not change (rollups == facts,
rebuild == live)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hm_core.common.scope import unscoped
from hm_core.encounters.backfill import encounter_import_history
from hm_core.events.replay import rebuild
from hm_core.events.unit_of_work import command_block, new_id, update, upsert
from hm_core.reports.models import OpdVisit
from hm_core.reports.rollups import rollup_rows, rollups_from_facts
from tests.encounters.conftest import make_patient
from tests.reports.conftest import report_rows
from tests.reports.test_rollups import nonzero
from tests.statements import statements_sent

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VISITS = 4


def _import_visits(world: Any) -> list[str]:
    """Four closed visits imported in one unit of work; the statements it sent."""
    patient = make_patient(world)
    with statements_sent() as sent, command_block():
        for n in range(VISITS):
            encounter_import_history(
                scope=world.scope("admin"),
                patient_id=patient.id,
                reason="Imported",
                visit_number=f"V-{n}",
                start=START + timedelta(days=n),
                end=START + timedelta(days=n, minutes=30 + n),
            )
    return sent


def test_imported_visits_are_not_read_and_the_events_go_out_once(rworld):
    # when four encounters' histories (created, checked in, closed) are imported together
    sent = _import_visits(rworld)
    # then no visit is read: each encounter's id was made up by the command (no row can have
    # it), and its later events find the row the command wrote; nothing flushes before the end
    reads = [s for s in sent if s.startswith("SELECT") and '"reports_opdvisit"' in s]
    assert reads == []
    assert sum(s.startswith("INSERT") and '"events_event"' in s for s in sent) == 1


def test_a_lookup_answers_from_the_command_and_reads_other_rows_without_flushing(rworld):
    scoped = {"tenant_id": rworld.tenant.id, "facility_id": rworld.main.id}
    written, other, stored = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    OpdVisit.all_tenants.create(encounter_id=stored, status="SCHEDULED", **scoped)
    reads: list[uuid.UUID] = []

    def read(pk: uuid.UUID) -> Any:
        reads.append(pk)
        return OpdVisit.all_tenants.filter(encounter_id=pk).values("status").first()

    with statements_sent() as sent, command_block() as uow:
        made_up = new_id()
        upsert(OpdVisit, encounter_id=written, defaults={**scoped, "status": "SCHEDULED"})
        upsert(OpdVisit, encounter_id=written, defaults={**scoped, "status": "CLOSED"})
        found = uow.lookup(OpdVisit, written, lambda: read(written))
        missing = uow.lookup(OpdVisit, other, lambda: read(other))
        none = uow.lookup(OpdVisit, made_up, lambda: read(made_up))
        assert not any('"reports_opdvisit"' in sql for sql in sent if sql.startswith("INSERT"))
        # a queued write the command cannot follow row by row: the read flushes it first
        update(OpdVisit.all_tenants.filter(encounter_id=stored), status="CLOSED")
        again = uow.lookup(OpdVisit, stored, lambda: read(stored))

    assert isinstance(found, OpdVisit) and found.status == "CLOSED"
    assert missing is None and none is None
    assert reads == [other, stored]  # the row it wrote and the id it made up: no read
    assert again == {"status": "CLOSED"}


def test_imported_visits_report_as_a_rebuild_does(rworld):
    # given four visits imported in one unit of work
    _import_visits(rworld)
    ids = {"tenant_id": rworld.tenant.id, "facility_id": rworld.main.id}
    live = report_rows(rworld.tenant.id)
    with unscoped("test: comparing a facility's rollups with its fact rows"):
        rollups = nonzero(rollup_rows(**ids))
        assert rollups == nonzero(rollups_from_facts(**ids))
    visits = live["OpdVisit"]
    assert [v["status"] for v in visits] == ["CLOSED"] * VISITS
    assert sorted(v["visit_minutes"] for v in visits) == [30.0, 31.0, 32.0, 33.0]
    # when the reports are rebuilt from the events
    rebuild(["reports"], tenant_ids=[rworld.tenant.id])
    # then nothing differs
    assert report_rows(rworld.tenant.id) == live
    with unscoped("test: comparing a facility's rollups with its fact rows"):
        assert nonzero(rollup_rows(**ids)) == rollups
