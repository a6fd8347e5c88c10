"""FHIR ImagingStudy (studies linked to a patient) and AuditEvent (audit.view only)."""

from __future__ import annotations

from hm_core.fhir.validation import validate
from tests.fhir.conftest import FHIR
from tests.imaging.conftest import dicom_bytes, schedule, store
from tests.patients.factories import register_patient


def _ok(response):
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body)
    return body


def test_a_linked_study_is_an_imaging_study_and_an_unmatched_one_is_not(lab_world):
    # given
    booked = schedule(lab_world)
    store(lab_world, dicom_bytes(AccessionNumber=booked.accession, PatientID=booked.mrn))
    store(lab_world, dicom_bytes(PatientID="NOBODY-KNOWN"))
    api = lab_world.api()
    # when
    body = _ok(api.get(f"{FHIR}/ImagingStudy"))
    # then
    (entry,) = body["entry"]
    study = entry["resource"]
    assert study["subject"] == {"reference": f"Patient/{booked.patient_id}"}
    assert study["basedOn"] == [{"reference": f"ServiceRequest/{booked.item_id}"}]
    assert study["modality"][0]["code"] == "CT"
    assert study["identifier"][0]["value"].startswith("urn:oid:")
    assert _ok(api.get(f"{FHIR}/ImagingStudy/{study['id']}")) == study
    assert _ok(api.get(f"{FHIR}/ImagingStudy", {"patient": str(booked.patient_id)}))["total"] == 1


def test_the_audit_trail_is_served_as_audit_events_to_auditors_only(world):
    # given: a registration and a FHIR read of it
    api = world.api()
    p = register_patient(api)
    assert api.get(f"{FHIR}/Patient/{p['id']}").status_code == 200
    # when
    body = _ok(api.get(f"{FHIR}/AuditEvent", {"patient": p["id"]}))
    denied = world.api("doctor").get(f"{FHIR}/AuditEvent")
    # then
    actions = {e["resource"]["subtype"][0]["code"] for e in body["entry"]}
    assert {"patient.registered", "fhir.read"} <= actions
    read = next(e["resource"] for e in body["entry"] if e["resource"]["action"] == "R")
    assert read["entity"] == [{"what": {"reference": f"Patient/{p['id']}"}}]
    assert denied.status_code == 403
    assert denied.json()["resourceType"] == "OperationOutcome"
    agent = str(world.users["admin"].id)
    assert _ok(api.get(f"{FHIR}/AuditEvent", {"agent": agent}))["total"] >= 2
