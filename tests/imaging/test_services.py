"""Storing instances (contract §13): real files accepted or refused, linking, duplicates,
the item's status, one timeline entry per series, events and read models."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.uid import generate_uid

from hm_core.common.errors import PermissionDenied
from hm_core.common.scope import scope_active
from hm_core.events.models import Event
from hm_core.imaging import files
from hm_core.imaging.models import Instance, Series, Study
from hm_core.orders.selectors import order_item_get
from hm_core.timeline.models import TimelineEntry
from tests.imaging.conftest import dicom_bytes, raw, schedule, store

ACCEPTED = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small.dcm",
    "MR_small_implicit.dcm",  # implicit VR little endian
    "MR_small_bigendian.dcm",  # explicit VR big endian (retired, still accepted as sent)
    "MR_small_RLE.dcm",  # compressed: RLE
    "JPEG2000.dcm",  # compressed: JPEG 2000
]
REFUSED = [
    ("MR_truncated.dcm", "truncated"),
    ("no_meta.dcm", "not a DICOM Part-10 file"),  # no preamble, no DICM, no file meta
    ("no_meta_group_length.dcm", "missing or invalid study_instance_uid"),
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_real_files_of_every_syntax_are_stored(lab_world, name):
    # when
    outcome = store(lab_world, raw(name))
    # then
    assert outcome.status == "STORED", outcome.reason
    with scope_active(lab_world.scope()):
        instance = Instance.objects.get(sop_instance_uid=outcome.sop_instance_uid)
    assert files.storage().size(instance.storage_key) == len(raw(name))
    with files.open_file(instance.storage_key) as fp:
        assert fp.read() == raw(name)


@pytest.mark.parametrize(("name", "reason"), REFUSED)
def test_unreadable_files_are_refused_and_nothing_is_written(lab_world, name, reason):
    outcome = store(lab_world, raw(name))
    assert outcome.status == "REFUSED" and reason in outcome.reason
    assert (
        not Event.objects.filter(tenant_id=lab_world.tenant.id)
        .filter(type__startswith="imaging.")
        .exists()
    )
    assert _stored_files(lab_world) == []


def test_garbage_and_a_cut_header_are_refused(lab_world):
    assert store(lab_world, b"hello, not dicom" * 20).status == "REFUSED"
    assert store(lab_world, raw("CT_small.dcm")[:400]).status == "REFUSED"
    assert _stored_files(lab_world) == []


def test_an_instance_over_the_size_limit_is_refused(lab_world, settings):
    settings.DICOM_MAX_INSTANCE_BYTES = 1000
    outcome = store(lab_world, raw("CT_small.dcm"))
    assert outcome.status == "TOO_LARGE" and _stored_files(lab_world) == []


def test_accession_links_to_the_item_and_moves_it_to_images_available(lab_world):
    # given
    booked = schedule(lab_world)
    # when: two instances of one series, then one of another series
    first = dicom_bytes(AccessionNumber=booked.accession, PatientID=booked.mrn)
    assert store(lab_world, first).status == "STORED"
    second = _same_series(first)
    assert store(lab_world, second).status == "STORED"
    third = _same_study_new_series(first)
    assert store(lab_world, third).status == "STORED"
    # then
    scope = lab_world.scope()
    with scope_active(scope):
        study = Study.objects.get()
        assert order_item_get(scope=scope, item_id=booked.item_id).status == "IMAGES_AVAILABLE"
    assert (study.link, study.order_item_id, study.patient_id) == (
        "ACCESSION",
        booked.item_id,
        booked.patient_id,
    )
    assert (study.series_count, study.instance_count, study.warnings) == (2, 3, [])
    entries = TimelineEntry.all_tenants.filter(encounter_id=booked.encounter_id)
    imaging = [e.event_type for e in entries if e.event_type.startswith("imaging.")]
    assert imaging == ["imaging.series_received", "imaging.series_received"]
    assert entries.filter(event_type="order.item_imaged").count() == 1


def test_a_patient_id_other_than_the_ordered_patients_mrn_is_a_warning(lab_world):
    booked = schedule(lab_world)
    store(lab_world, dicom_bytes(AccessionNumber=booked.accession, PatientID="SOMEONE-ELSE"))
    with scope_active(lab_world.scope()):
        study = Study.objects.get()
    assert study.link == "ACCESSION" and study.patient_id == booked.patient_id
    assert study.warnings == ["PatientID does not match the ordered patient's MRN"]


def test_without_accession_the_mrn_links_to_the_patient_else_unmatched(lab_world):
    booked = schedule(lab_world)
    store(lab_world, dicom_bytes(AccessionNumber="", PatientID=booked.mrn))
    store(lab_world, dicom_bytes(AccessionNumber="NOPE", PatientID="NOBODY"))
    with scope_active(lab_world.scope()):
        links = dict(Study.objects.values_list("link", "patient_id"))
        item = order_item_get(scope=lab_world.scope(), item_id=booked.item_id)
    assert links == {"MRN": booked.patient_id, "UNMATCHED": None}
    assert item.status == "ORDERED"


def test_the_same_sop_instance_again_stores_nothing_new(lab_world):
    data = dicom_bytes()
    assert store(lab_world, data).status == "STORED"
    events = Event.objects.filter(tenant_id=lab_world.tenant.id).count()
    # when
    again = store(lab_world, data)
    # then
    assert again.status == "DUPLICATE"
    assert Event.objects.filter(tenant_id=lab_world.tenant.id).count() == events
    assert len(_stored_files(lab_world)) == 1


def test_storing_needs_the_permission(lab_world):
    with pytest.raises(PermissionDenied):
        store(lab_world, dicom_bytes(), role="receptionist")


def _same_series(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _same_study_new_series(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(_same_series(data)))
    ds.SeriesInstanceUID = generate_uid()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _stored_files(world) -> list[str]:
    storage = files.storage()
    root = str(world.tenant.id)
    if not storage.exists(root):
        return []
    found = []
    for study in storage.listdir(root)[0]:
        found += storage.listdir(f"{root}/{study}")[1]
    return found


def test_series_known_and_instances_counted_per_series(lab_world):
    data = dicom_bytes()
    store(lab_world, data)
    store(lab_world, _same_series(data))
    with scope_active(lab_world.scope()):
        series = Series.objects.get()
    assert series.instance_count == 2
