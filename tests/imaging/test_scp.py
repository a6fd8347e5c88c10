"""The DIMSE SCP with clients written by others: pynetdicom's SCU, and dcmtk's echoscu,
storescu and findscu (skipped when dcmtk is not installed; CI installs it)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    ModalityWorklistInformationFind,
    Verification,
)

from hm_core.common.scope import scope_active
from hm_core.imaging import scp
from hm_core.imaging.models import Study
from hm_core.orders.selectors import order_item_get
from tests.imaging.conftest import dicom_bytes, make_dicom_channel, needs_dcmtk, schedule
from tests.listeners import free_port, run_until_sigterm

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]
HOST = "127.0.0.1"


@pytest.fixture
def scp_port() -> Iterator[int]:
    server = scp.start(host=HOST, port=0, ae_title="HMCORE")
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def associate(port: int, calling: str, *contexts: str):
    ae = AE(ae_title=calling)
    for context in contexts:
        ae.add_requested_context(context)
    return ae.associate(HOST, port, ae_title="HMCORE")


def worklist_query(**keys: str) -> Dataset:
    query = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        setattr(query, keyword, "")
    query.AccessionNumber = keys.get("AccessionNumber", "")
    query.RequestedProcedureDescription = ""
    step = Dataset()
    step.Modality = keys.get("Modality", "")
    step.ScheduledProcedureStepStartDate = keys.get("Date", "")
    step.ScheduledStationAETitle = ""
    query.ScheduledProcedureStepSequence = [step]
    return query


def test_echo_from_a_channels_ae_title_and_rejection_of_unknown_ones(lab_world, scp_port):
    make_dicom_channel(lab_world, "CT01")
    known = associate(scp_port, "CT01", Verification)
    assert known.is_established
    assert known.send_c_echo().Status == 0x0000
    known.release()
    stranger = associate(scp_port, "STRANGER", Verification)
    assert stranger.is_rejected and not stranger.is_established


def test_c_store_links_by_accession_and_refuses_what_it_cannot_read(lab_world, scp_port):
    # given
    make_dicom_channel(lab_world, "CT01")
    booked = schedule(lab_world)
    ct = pydicom.dcmread(io.BytesIO(dicom_bytes(AccessionNumber=booked.accession)))
    broken = pydicom.dcmread(io.BytesIO(dicom_bytes()))
    del broken.StudyInstanceUID
    assoc = associate(scp_port, "CT01", CTImageStorage)
    assert assoc.is_established
    # when
    stored = assoc.send_c_store(ct)
    again = assoc.send_c_store(ct)
    refused = assoc.send_c_store(broken)
    assoc.release()
    # then
    assert (stored.Status, again.Status, refused.Status) == (0x0000, 0x0000, 0xC000)
    scope = lab_world.scope()
    with scope_active(scope):
        study = Study.objects.get()
        assert order_item_get(scope=scope, item_id=booked.item_id).status == "IMAGES_AVAILABLE"
    assert (study.link, study.instance_count) == ("ACCESSION", 1)


def test_worklist_answers_the_callers_facility_with_matching(lab_world, other_world, scp_port):
    # given: a CT and an X-ray ordered here, a CT at the other tenant
    make_dicom_channel(lab_world, "CT01")
    make_dicom_channel(other_world, "RIVAL")
    ct, cxr = schedule(lab_world, "CTHEAD"), schedule(lab_world, "CXR")
    assoc = associate(scp_port, "CT01", ModalityWorklistInformationFind)

    def find(**keys: str) -> list[Dataset]:
        answers = assoc.send_c_find(worklist_query(**keys), ModalityWorklistInformationFind)
        return [identifier for status, identifier in answers if status.Status == 0xFF00]

    # when / then
    everything = find()
    assert sorted(e.AccessionNumber for e in everything) == sorted([ct.accession, cxr.accession])
    only_ct = find(Modality="CT")
    assert [e.AccessionNumber for e in only_ct] == [ct.accession]
    entry = only_ct[0]
    assert entry.PatientID == ct.mrn and entry.PatientName == "Lovelace^Ada"
    assert entry.PatientBirthDate == "19800517" and entry.PatientSex == "F"
    assert entry.RequestedProcedureDescription == "CT head without contrast"
    assert entry.ScheduledProcedureStepSequence[0].Modality == "CT"
    assert [e.AccessionNumber for e in find(AccessionNumber=cxr.accession)] == [cxr.accession]
    assert find(Date="19990101-19991231") == []
    assoc.release()
    rival = associate(scp_port, "RIVAL", ModalityWorklistInformationFind)
    answers = rival.send_c_find(worklist_query(), ModalityWorklistInformationFind)
    assert [s.Status for s, _ in answers] == [0x0000]  # nothing of the other tenant
    rival.release()


@needs_dcmtk
def test_dcmtk_echoscu_findscu_and_storescu(lab_world, scp_port, tmp_path: Path):
    make_dicom_channel(lab_world, "DCMTK01")
    booked = schedule(lab_world)
    port = str(scp_port)
    dcmtk = ["-aet", "DCMTK01", "-aec", "HMCORE", HOST, port]
    assert _run("echoscu", *dcmtk).returncode == 0
    assert _run("echoscu", "-aet", "NOBODY", "-aec", "HMCORE", HOST, port).returncode != 0
    found = _run(
        "findscu",
        "-W",
        "-k",
        f"AccessionNumber={booked.accession}",
        "-k",
        "PatientID",
        "-k",
        "ScheduledProcedureStepSequence[0].Modality",
        *dcmtk,
    )
    assert found.returncode == 0 and booked.accession in found.stderr + found.stdout
    study_file = tmp_path / "ct.dcm"
    study_file.write_bytes(dicom_bytes(AccessionNumber=booked.accession))
    sent = _run("storescu", *dcmtk, str(study_file))
    assert sent.returncode == 0, sent.stderr
    with scope_active(lab_world.scope()):
        assert Study.objects.get().order_item_id == booked.item_id


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603


@pytest.mark.django_db
def test_run_dicom_scp_prints_its_address_and_exits_0_on_sigterm(tmp_path: Path):
    port = free_port()
    run = run_until_sigterm("run_dicom_scp", "--port", str(port), tmp_path=tmp_path)
    assert run.first_line == f"DICOM SCP HMCORE listening on {HOST}:{port}"
    assert (run.returncode, run.rest) == (0, "run_dicom_scp: stopped")
