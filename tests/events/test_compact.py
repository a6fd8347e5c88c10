"""A unit of work folds later changes of rows it still holds queued into them (`Rows.absorb`):
an encounter imported as created, checked in and closed goes out as one row, not an INSERT and
two UPDATEs, when that gives the same rows; never when it could differ."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import F
from django.forms.models import model_to_dict

from hm_core.billing.models import Account
from hm_core.encounters.backfill import encounter_import_history
from hm_core.encounters.models import Encounter
from hm_core.events.ops import Rows, Update, compact
from hm_core.events.replay import rebuild
from hm_core.events.unit_of_work import command_block
from tests.encounters.conftest import make_patient
from tests.statements import statements_sent

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = START + timedelta(minutes=5)


def _encounter_upsert(world: Any, encounter_id: uuid.UUID) -> Rows:
    defaults = {"tenant_id": world.tenant.id, "facility_id": world.main.id, "status": "SCHEDULED"}
    op = Rows(Encounter, [Encounter(id=encounter_id, **defaults)], conflict="update", keys=("id",))
    op.updates = tuple(defaults)
    return op


def _check_in(world: Any, encounter_id: uuid.UUID, **fields: Any) -> Update:
    rows = Encounter.all_tenants.filter(id=encounter_id, tenant_id=world.tenant.id)
    return Update(rows, fields or {"status": "CHECKED_IN", "checked_in_at": T1})


def test_an_update_of_a_queued_new_row_is_folded_into_it(world):
    encounter_id = uuid.uuid4()
    ops = [_encounter_upsert(world, encounter_id), _check_in(world, encounter_id)]

    merged = compact(ops, fresh=lambda model, pk: pk == encounter_id)

    assert len(merged) == 1
    [row] = merged[0].objs  # type: ignore[attr-defined]
    assert (row.status, row.checked_in_at) == ("CHECKED_IN", T1)


@pytest.mark.parametrize(
    "case",
    ["row may exist", "computed by the database", "read in between", "other row"],
)
def test_an_update_that_could_end_differently_is_left_alone(world, case):
    encounter_id = uuid.uuid4()
    ops: list[Any] = [_encounter_upsert(world, encounter_id)]
    fresh = lambda model, pk: True  # noqa: E731
    if case == "row may exist":  # checked_in_at is not among the upsert's conflict updates
        fresh = lambda model, pk: False  # noqa: E731
    if case == "read in between":
        ops.append(
            Update(
                Account.all_tenants.filter(encounter_id__in=Encounter.all_tenants.values("id")),
                {"status": "FINAL"},
            )
        )
    if case == "computed by the database":
        ops.append(_check_in(world, encounter_id, version=F("version") + 1))
    else:
        ops.append(_check_in(world, uuid.uuid4() if case == "other row" else encounter_id))

    merged = compact(ops, fresh=fresh)

    assert len(merged) == len(ops)
    assert merged[0].objs[0].status == "SCHEDULED"  # type: ignore[attr-defined]


def _rows(model: Any, world: Any) -> list[dict[str, Any]]:
    return [model_to_dict(r) for r in model.all_tenants.filter(tenant_id=world.tenant.id).order_by("pk")]  # fmt: skip


@pytest.mark.postgres_only
def test_imported_encounters_are_written_once_each_and_equal_a_rebuild(world):
    # given encounters imported as history in one unit of work (a FHIR Bundle's)
    patient = make_patient(world)
    with statements_sent() as sent, command_block():
        for n in range(3):
            encounter_import_history(
                scope=world.scope("admin"),
                patient_id=patient.id,
                reason="Imported",
                visit_number=f"V-{n}",
                start=START + timedelta(days=n),
                end=START + timedelta(days=n, hours=1),
            )
    # then the encounters and their accounts each go out in one statement
    assert sum('UPDATE "encounters_encounter"' in sql for sql in sent) == 0
    assert sum('INSERT INTO "encounters_encounter"' in sql for sql in sent) == 1
    assert sum('UPDATE "billing_account"' in sql for sql in sent) == 0
    live = {m: _rows(m, world) for m in (Encounter, Account)}
    assert {r["status"] for r in live[Encounter]} == {"CLOSED"}
    assert {r["status"] for r in live[Account]} == {"FINAL"}
    # and a rebuild from the events writes the same rows
    rebuild(["encounters", "billing"], tenant_ids=[world.tenant.id])
    assert {m: _rows(m, world) for m in (Encounter, Account)} == live
