"""Coverage member ids encrypted at rest (contract §15, §18): no plaintext in the billing table,
the events table or the timeline; plaintext through the API; key rotation; rebuild equals live;
coverages recorded before encryption keep working."""

from __future__ import annotations

import io
from importlib import import_module
from typing import Any

from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.forms.models import model_to_dict
from django.test import override_settings

from hm_core.billing.events import CoverageAdded
from hm_core.billing.models import Coverage
from hm_core.common.crypto import decrypt_field, is_encrypted
from hm_core.events.replay import rebuild
from tests.billing.conftest import make_coverage, make_payer
from tests.encounters.conftest import make_patient

MEMBER_ID = "ZX-778-QQ-4411"
sealing = import_module("hm_core.billing.migrations.0003_sealed_member_ids")


def _dump(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return "\n".join(repr(row) for row in cursor.fetchall())


def _covered(world: Any, member_id: str = MEMBER_ID) -> tuple[Any, dict[str, Any]]:
    payer, patient = make_payer(world, code=f"PAYER-{len(member_id)}"), make_patient(world)
    return patient, make_coverage(world, patient.id, payer["id"], member_id=member_id)


def _listed(world: Any, patient: Any) -> list[str]:
    page = world.api("billing_clerk").get(f"/api/patients/{patient.id}/coverages/").json()
    return [item["member_id"] for item in page["items"]]


def test_a_database_dump_shows_no_plaintext_member_id_and_the_api_shows_it_clear(billed_world):
    # given / when
    patient, body = _covered(billed_world)

    # then: raw rows of the read model, the events and the timeline hold a token only
    table = Coverage._meta.db_table
    for dump in (_dump(table), _dump("events_event"), _dump("timeline_timelineentry")):
        assert "ZX-778" not in dump
    stored = Coverage.all_tenants.get(id=body["id"]).member_id
    assert is_encrypted(stored) and decrypt_field(stored) == MEMBER_ID
    assert body["member_id"] == MEMBER_ID
    assert _listed(billed_world, patient) == [MEMBER_ID]
    timeline = billed_world.api("doctor").get(f"/api/patients/{patient.id}/timeline/").json()
    added = [e for e in timeline["items"] if e["type"] == "billing.coverage_added"]
    assert [e["data"]["member_id"] for e in added] == [MEMBER_ID]


def test_rotate_field_keys_re_encrypts_member_ids_with_the_first_key(billed_world):
    # given: a coverage written under the current keys
    patient, body = _covered(billed_world)
    old_keys, new_key = list(settings.FIELD_ENCRYPTION_KEYS), Fernet.generate_key().decode()
    before = Coverage.all_tenants.get(id=body["id"]).member_id

    # when: the new key goes first, then the rotation
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *old_keys]):
        out = io.StringIO()
        call_command("rotate_field_keys", stdout=out)

    # then: the row opens with the new key alone, and the API still answers in clear
    assert "billing_coverages: 1 rows re-encrypted" in out.getvalue()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        after = Coverage.all_tenants.get(id=body["id"]).member_id
        assert after != before and decrypt_field(after) == MEMBER_ID
        assert _listed(billed_world, patient) == [MEMBER_ID]


def test_rebuild_equals_live_with_sealed_member_ids(billed_world):
    # given
    _covered(billed_world)
    _covered(billed_world, member_id="AB-1")

    def rows() -> list[dict[str, Any]]:
        return [model_to_dict(c) for c in Coverage.all_tenants.order_by("pk")]

    live = rows()

    # when
    rebuild(["billing"], tenant_ids=[billed_world.tenant.id])

    # then: the very same tokens, copied from the events
    assert rows() == live and len(live) == 2


def test_a_coverage_stored_before_encryption_reads_clear_and_is_sealed_by_the_migration(
    billed_world,
):
    # given: a row holding the plaintext member id, as written before encryption
    patient, body = _covered(billed_world)
    Coverage.all_tenants.filter(id=body["id"]).update(member_id=MEMBER_ID)
    assert _listed(billed_world, patient) == [MEMBER_ID]

    # when
    sealing.seal_member_ids(apps, None)

    # then
    stored = Coverage.all_tenants.get(id=body["id"]).member_id
    assert is_encrypted(stored) and decrypt_field(stored) == MEMBER_ID
    assert _listed(billed_world, patient) == [MEMBER_ID]
    assert "ZX-778" not in _dump("timeline_timelineentry")


def test_a_version_1_coverage_event_is_upcast_to_a_sealed_member_id():
    # given: a payload stored before encryption (version 1, plaintext)
    payload = {
        "coverage_id": "5d3c9f7e-53d6-4d1d-9a43-3c1f3d1a6b01",
        "patient_id": "a7a0a1f2-2b6e-4bb4-9d1f-0e5cfa1c2d02",
        "payer_id": "c1f1e2d3-3c4b-4a5d-8e6f-7a8b9c0d1e03",
        "member_id": MEMBER_ID,
        "relationship": "self",
        "valid_from": "2020-01-01",
        "priority": 1,
    }

    # when
    event = CoverageAdded.from_payload(payload, 1)

    # then
    assert is_encrypted(event.member_id) and decrypt_field(event.member_id) == MEMBER_ID
    assert CoverageAdded.revealed(event.to_payload())["member_id"] == MEMBER_ID
    assert CoverageAdded.revealed(payload)["member_id"] == MEMBER_ID
