"""Lab services: what one call writes (stream, read model, timeline, audit), the database
backstops behind the service checks, and every lab event type emitted by the workflow."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from hm_core.audit.models import AuditRecord
from hm_core.common.errors import Conflict, InvalidTransition
from hm_core.common.scope import scope_active
from hm_core.common.time import utcnow
from hm_core.events.base import catalogue
from hm_core.events.models import Event
from hm_core.lab import services as lab
from hm_core.lab.errors import DuplicateBarcode
from hm_core.lab.models import LabResult, Sample
from hm_core.lab.selectors import SampleFilters, sample_list
from hm_core.lab.services import results as lab_results
from hm_core.lab.services import samples as lab_samples
from hm_core.orders import services as orders
from hm_core.orders.selectors import order_items
from hm_core.tasks.models import Task
from hm_core.timeline.models import TimelineEntry
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import K_NORMAL
from tests.lab.test_rebuild import run_scenario


def lab_order(world, *codes) -> tuple[uuid.UUID, list[Sample]]:
    encounter = make_encounter(world, "CHECKED_IN")
    order = orders.order_place(
        scope=world.scope("doctor"),
        encounter_id=encounter.id,
        order_type="LAB",
        priority="ROUTINE",
        service_codes=list(codes),
    )
    scope = world.scope("lab_tech")
    with scope_active(scope):
        return order.id, list(sample_list(scope=scope, filters=SampleFilters(order=order.id)))


def receive(world, sample: Sample, barcode: str) -> Sample:
    return lab.sample_receive(
        scope=world.scope("lab_tech"),
        sample_id=sample.id,
        barcode=barcode,
        received_at=utcnow() - timedelta(minutes=3),
    )


def test_sample_receive_writes_stream_read_model_timeline_and_audit(lab_world):
    # given
    _, (sample,) = lab_order(lab_world, "K")
    # when
    received = receive(lab_world, sample, "BC-100")
    # then
    (event,) = Event.objects.filter(stream_id=sample.id, type="lab.sample_received")
    assert (event.stream_type, event.stream_version, event.actor_username) == (
        "sample",
        2,
        "lab_tech@acme",
    )
    assert (received.status, received.barcode, received.version) == ("RECEIVED", "BC-100", 2)
    entry = TimelineEntry.all_tenants.get(event_id=event.id)
    assert (entry.encounter_id, entry.patient_id) == (sample.encounter_id, sample.patient_id)
    assert entry.summary == "Sample received, barcode BC-100"
    assert AuditRecord.all_tenants.filter(kind="event", action="lab.sample_received").count() == 1
    (collect,) = Task.all_tenants.filter(subject_id=sample.id, kind="collect_sample")
    (enter,) = Task.all_tenants.filter(subject_id=sample.id, kind="enter_result")
    assert (collect.status, enter.status) == ("DONE", "OPEN")
    assert Event.objects.get(stream_id=enter.id).causation_id == event.id


def test_the_database_backs_the_barcode_check(lab_world, monkeypatch):
    # given two samples, one received as DB-1, and a service check that misses it (a race)
    _, samples = lab_order(lab_world, "K", "CBC")
    receive(lab_world, samples[0], "DB-1")
    monkeypatch.setattr(lab_samples, "sample_barcode_taken", lambda **_: False)
    before = Event.objects.count()
    # when
    with pytest.raises(DuplicateBarcode):
        receive(lab_world, samples[1], "DB-1")
    # then nothing of the loser was written
    assert Event.objects.count() == before
    assert Sample.all_tenants.get(id=samples[1].id).status == "PENDING"


def test_the_database_backs_the_one_result_per_item_check(lab_world, monkeypatch):
    order_id, (sample,) = lab_order(lab_world, "K")
    receive(lab_world, sample, "DB-2")
    scope = lab_world.scope("lab_tech")
    with scope_active(scope):
        (item,) = order_items(scope=scope, order_ids=[order_id])[order_id]
    lab.lab_result_enter(
        scope=scope, order_item_id=item.id, result_payload=K_NORMAL, is_critical=False
    )
    monkeypatch.setattr(lab_results, "lab_result_for_item", lambda **_: None)
    before = Event.objects.count()
    with pytest.raises(InvalidTransition) as caught:
        lab.lab_result_enter(
            scope=lab_world.scope("lab_tech2"),
            order_item_id=item.id,
            result_payload=K_NORMAL,
            is_critical=False,
        )
    assert isinstance(caught.value, Conflict) and caught.value.details["from"] == "RESULTED"
    assert Event.objects.count() == before
    assert LabResult.all_tenants.count() == 1


def test_the_workflow_emits_every_lab_event_type(lab_world):
    run_scenario(lab_world)
    emitted = set(
        Event.objects.filter(tenant_id=lab_world.tenant.id).values_list("type", flat=True)
    )
    lab_types = {t for t in catalogue() if t.startswith("lab.")}
    assert lab_types == {
        "lab.sample_created",
        "lab.sample_received",
        "lab.sample_rejected",
        "lab.sample_cancelled",
        "lab.result_entered",
        "lab.result_verified",
        "lab.result_released",
        "lab.result_corrected",
    }
    assert lab_types <= emitted
    for event in Event.objects.filter(tenant_id=lab_world.tenant.id, type__startswith="lab."):
        assert event.payload["encounter_id"] and event.payload["patient_id"], event.type
        assert TimelineEntry.all_tenants.filter(event_id=event.id).exists()
