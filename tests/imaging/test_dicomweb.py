"""DICOMweb over HTTP with a client written by others (dicomweb-client) against a live server:
STOW-RS, QIDO-RS, WADO-RS; plus the raw protocol details clients rely on."""

from __future__ import annotations

import copy
import io

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from ninja_jwt.tokens import AccessToken
from pydicom.uid import generate_uid
from requests.exceptions import HTTPError

from tests.imaging.conftest import dicom_bytes, raw, schedule

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def client_for(live_server, world, role="integration", facility=None):
    headers = {
        "Authorization": f"Bearer {AccessToken.for_user(world.users[role])}",
        "X-Tenant-ID": str(world.tenant.id),
        "X-Facility-ID": str((facility or world.main).id),
    }
    return DICOMwebClient(url=f"{live_server.url}/api/dicomweb", headers=headers)


def _ds(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def test_stow_qido_wado_round_trip_with_dicomweb_client(live_server, lab_world):
    # given: a scheduled CT and two instances of its study (one series)
    booked = schedule(lab_world)
    first = _ds(dicom_bytes(AccessionNumber=booked.accession, PatientID=booked.mrn))
    second = copy.deepcopy(first)
    second.SOPInstanceUID = generate_uid()
    second.file_meta.MediaStorageSOPInstanceUID = second.SOPInstanceUID
    client = client_for(live_server, lab_world)
    # when
    response = client.store_instances(datasets=[first, second])
    # then: both referenced, none failed
    assert len(response.ReferencedSOPSequence) == 2
    assert "FailedSOPSequence" not in response
    study_uid = str(first.StudyInstanceUID)
    found = client.search_for_studies(search_filters={"AccessionNumber": booked.accession})
    assert [s["0020000D"]["Value"][0] for s in found] == [study_uid]
    assert found[0]["00201208"]["Value"] == [2] and found[0]["00080061"]["Value"] == ["CT"]
    series = client.search_for_series(study_uid)
    assert series[0]["0020000E"]["Value"] == [str(first.SeriesInstanceUID)]
    instances = client.search_for_instances(study_uid, str(first.SeriesInstanceUID))
    assert len(instances) == 2
    got = client.retrieve_instance(
        study_uid, str(first.SeriesInstanceUID), str(first.SOPInstanceUID)
    )
    assert got.SOPInstanceUID == first.SOPInstanceUID and got.PixelData == first.PixelData
    meta = client.retrieve_instance_metadata(
        study_uid, str(first.SeriesInstanceUID), str(first.SOPInstanceUID)
    )
    assert meta["00080050"]["Value"] == [booked.accession] and "7FE00010" not in meta


def test_stow_reports_unreadable_and_duplicate_parts_per_instance(live_server, lab_world):
    import requests

    good = dicom_bytes()
    body, ctype = _multipart([good, raw("MR_truncated.dcm"), good, b"not dicom at all"])
    url = f"{live_server.url}/api/dicomweb/studies"
    headers = {**client_for(live_server, lab_world)._session.headers, "Content-Type": ctype}
    response = requests.post(url, data=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/dicom+json")
    answer = response.json()
    assert len(answer["00081199"]["Value"]) == 2  # the good one, and again as a duplicate
    failed = answer["00081198"]["Value"]
    assert [f["00081197"]["Value"] for f in failed] == [[0xC000], [0xC000]]
    assert "truncated" in failed[0]["0040A160"]["Value"][0]


def test_qido_filters_dates_modalities_and_paging(live_server, lab_world):
    client = client_for(live_server, lab_world)
    for date, name, pid in [
        ("20240105", "CT_small.dcm", "P1"),
        ("20240210", "MR_small.dcm", "P2"),
        ("20240315", "CT_small.dcm", "P1"),
    ]:
        client.store_instances(datasets=[_ds(dicom_bytes(name, StudyDate=date, PatientID=pid))])

    def dates(**filters):
        found = client.search_for_studies(search_filters=filters)
        return sorted(s["00080020"]["Value"][0] for s in found)

    assert dates(StudyDate="20240101-20240229") == ["20240105", "20240210"]
    assert dates(StudyDate="20240301-") == ["20240315"]
    assert dates(StudyDate="-20240105") == ["20240105"]
    assert dates(ModalitiesInStudy="MR") == ["20240210"]
    assert dates(PatientID="P1") == ["20240105", "20240315"]
    assert len(client.search_for_studies(limit=2)) == 2
    assert len(client.search_for_studies(limit=2, offset=2)) == 1
    with pytest.raises(HTTPError) as bad:
        client.search_for_studies(search_filters={"StudyDate": "2024-01-01"})
    assert bad.value.response.status_code == 400


def test_another_tenant_sees_nothing_and_gets_404(live_server, lab_world, other_world):
    data = _ds(dicom_bytes())
    client_for(live_server, lab_world).store_instances(datasets=[data])
    rival = client_for(live_server, other_world, role="admin")
    assert rival.search_for_studies() == []
    with pytest.raises(HTTPError) as missing:
        rival.retrieve_instance(
            str(data.StudyInstanceUID), str(data.SeriesInstanceUID), str(data.SOPInstanceUID)
        )
    assert missing.value.response.status_code == 404


def _multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = "hm-test-boundary-42"
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
        for p in parts
    )
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'
