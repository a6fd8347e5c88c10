"""`/api/imaging/`: study list and detail, instance files (de-identified on ask, audited),
tenant isolation, query counts; the radiology report completes the item; rebuild equals live."""

from __future__ import annotations

import io

import pydicom
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import scope_active
from hm_core.events.models import Event
from hm_core.events.replay import rebuild
from hm_core.imaging.deidentify import _rules
from hm_core.imaging.models import Instance, Series, Study
from hm_core.orders.selectors import order_item_get
from tests.imaging.conftest import dicom_bytes, schedule, store

BASE = "/api/imaging"


def test_study_list_and_detail_show_links_counts_and_warnings(lab_world):
    # given
    booked = schedule(lab_world)
    store(lab_world, dicom_bytes(AccessionNumber=booked.accession, PatientID="OTHER"))
    unmatched = store(lab_world, dicom_bytes("MR_small.dcm", PatientID="NOBODY"))
    doctor = lab_world.api("doctor")
    # when
    by_patient = doctor.get(f"{BASE}/studies/", {"patient": str(booked.patient_id)}).json()
    by_order = doctor.get(f"{BASE}/studies/", {"order": str(booked.order_id)}).json()
    to_reconcile = doctor.get(f"{BASE}/studies/", {"status": "UNMATCHED"}).json()
    # then
    assert by_patient["count"] == 1 and by_order["items"] == by_patient["items"]
    study = by_patient["items"][0]
    assert (study["status"], study["modalities"], study["instance_count"]) == (
        "ACCESSION",
        ["CT"],
        1,
    )
    assert study["order_item_id"] == str(booked.item_id) and study["warnings"]
    assert [s["study_instance_uid"] for s in to_reconcile["items"]] == [
        unmatched.study_instance_uid
    ]
    detail = doctor.get(f"{BASE}/studies/{study['study_instance_uid']}/").json()
    assert detail["series"][0]["modality"] == "CT" and detail["series"][0]["instance_count"] == 1
    assert AuditRecord.all_tenants.filter(action="imaging.study_viewed").count() == 1


def test_the_study_list_query_count_does_not_grow(lab_world):
    doctor = lab_world.api("doctor")
    store(lab_world, dicom_bytes())
    with CaptureQueriesContext(connection) as one:
        doctor.get(f"{BASE}/studies/")
    for _ in range(4):
        store(lab_world, dicom_bytes())
    with CaptureQueriesContext(connection) as five:
        assert doctor.get(f"{BASE}/studies/").json()["count"] == 5
    assert len(five) == len(one)
    with CaptureQueriesContext(connection) as qido:
        assert len(lab_world.api("doctor").get("/api/dicomweb/studies").json()) == 5
    assert len(qido) <= len(one) + 1


def test_another_tenant_or_facility_gets_404_and_an_empty_list(lab_world, other_world):
    outcome = store(lab_world, dicom_bytes())
    uid, sop = outcome.study_instance_uid, outcome.sop_instance_uid
    for api in (other_world.api("admin"), lab_world.api("admin", facility=lab_world.annex)):
        assert api.get(f"{BASE}/studies/").json()["count"] == 0
        assert api.get(f"{BASE}/studies/{uid}/").status_code == 404
        assert api.get(f"{BASE}/instances/{sop}/file/").status_code == 404
        assert api.get(f"/api/dicomweb/studies/{uid}/series").status_code == 404
    assert lab_world.api("receptionist").get(f"{BASE}/studies/").status_code == 403


def test_instance_file_as_stored_and_deidentified_by_the_basic_profile(lab_world):
    # given two instances of one study
    booked = schedule(lab_world)
    first = dicom_bytes(AccessionNumber=booked.accession, PatientID=booked.mrn)
    original = pydicom.dcmread(io.BytesIO(first))
    second = pydicom.dcmread(io.BytesIO(first))
    second.SOPInstanceUID = pydicom.uid.generate_uid()
    second.file_meta.MediaStorageSOPInstanceUID = second.SOPInstanceUID
    buf = io.BytesIO()
    second.save_as(buf, enforce_file_format=True)
    store(lab_world, first)
    store(lab_world, buf.getvalue())
    doctor = lab_world.api("doctor")
    # when
    as_stored = doctor.get(f"{BASE}/instances/{original.SOPInstanceUID}/file/")
    anonymous = [
        pydicom.dcmread(
            io.BytesIO(doctor.get(f"{BASE}/instances/{sop}/file/", {"deidentify": "true"}).content)
        )
        for sop in (original.SOPInstanceUID, second.SOPInstanceUID, original.SOPInstanceUID)
    ]
    # then
    assert b"".join(as_stored.streaming_content) == first
    one, two, again = anonymous
    assert one.PatientIdentityRemoved == "YES"
    _assert_profile_applied(original, one)
    # UIDs: replaced, the same within the study, stable across downloads, distinct per instance
    assert one.StudyInstanceUID == two.StudyInstanceUID != original.StudyInstanceUID
    assert one.SeriesInstanceUID == two.SeriesInstanceUID != original.SeriesInstanceUID
    assert one.SOPInstanceUID == again.SOPInstanceUID != two.SOPInstanceUID
    assert one.file_meta.MediaStorageSOPInstanceUID == one.SOPInstanceUID
    assert one.PixelData == original.PixelData
    reads = AuditRecord.all_tenants.filter(patient_id=booked.patient_id, kind="read")
    assert reads.filter(action="imaging.instance_deidentified").count() == 3
    assert reads.filter(action="imaging.instance_retrieved").count() == 1


def _assert_profile_applied(original: pydicom.Dataset, anonymous: pydicom.Dataset) -> None:
    """Every Basic Profile attribute present in the original is removed, emptied or replaced."""
    checked = 0
    for tag in _rules():
        if len(tag) != 2 or tag[0] == 0x0002 or (tag[0] << 16 | tag[1]) not in original:
            continue
        before = original[tag].value
        after = anonymous.get(tag)
        checked += 1
        assert after is None or after.value != before or before in ("", None, b""), hex(
            tag[0] << 16 | tag[1]
        )
    assert checked >= 15
    assert not any(element.tag.is_private for element in anonymous)


def test_signing_a_radiology_report_completes_the_imaging_item(lab_world):
    # given an item with images
    booked = schedule(lab_world)
    store(lab_world, dicom_bytes(AccessionNumber=booked.accession, PatientID=booked.mrn))
    doctor = lab_world.api("doctor")
    body = {
        "encounter": str(booked.encounter_id),
        "doc_type": "RADIOLOGY_REPORT",
        "payload": {"order_item": str(booked.item_id), "findings": "No acute findings."},
    }
    report = doctor.post("/api/clinical-docs/", body)
    assert report.status_code == 201, report.json()
    # when
    signed = doctor.post(f"/api/clinical-docs/{report.json()['id']}/sign/")
    # then
    assert signed.status_code == 200, signed.json()
    scope = lab_world.scope()
    with scope_active(scope):
        assert order_item_get(scope=scope, item_id=booked.item_id).status == "COMPLETED"
    order = doctor.get(f"/api/orders/{booked.order_id}/").json()
    assert order["status"] == "COMPLETED" and order["items"][0]["status"] == "COMPLETED"
    types = set(Event.objects.filter(tenant_id=lab_world.tenant.id).values_list("type", flat=True))
    assert {"order.item_imaged", "order.item_completed"} <= types


def _rows(tenant_id) -> dict[str, list[dict]]:
    return {
        model.__name__: [
            model_to_dict(row) | {"pk": str(row.pk)}
            for row in model.all_tenants.filter(tenant_id=tenant_id).order_by("pk")
        ]
        for model in (Study, Series, Instance)
    }


def test_rebuild_reproduces_the_live_imaging_rows(lab_world):
    booked = schedule(lab_world)
    first = dicom_bytes(AccessionNumber=booked.accession)
    store(lab_world, first)
    store(lab_world, dicom_bytes("MR_small.dcm"))
    store(lab_world, first)  # a duplicate: nothing new
    live = _rows(lab_world.tenant.id)
    assert [len(live[m]) for m in ("Study", "Series", "Instance")] == [2, 2, 2]
    rebuild(["imaging"], tenant_ids=[lab_world.tenant.id])
    assert _rows(lab_world.tenant.id) == live
