"""Imaging fixtures: pydicom's bundled test files, scheduled IMAGING orders, dicom channels."""

from __future__ import annotations

import io
import shutil
import uuid
from dataclasses import dataclass
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from hm_core.common.scope import scope_active
from hm_core.imaging import services
from hm_core.imaging.services import StoreOutcome
from hm_core.interop.models import Channel
from hm_core.interop.services import channel_create
from hm_core.orders.selectors import order_items
from hm_core.orders.services import order_place
from hm_core.patients.selectors import patient_get
from tests.conftest import World
from tests.encounters.conftest import make_encounter
from tests.lab.conftest import lab_world  # noqa: F401 - the starter catalog's world

DCMTK = shutil.which("storescu") is not None
needs_dcmtk = pytest.mark.skipif(not DCMTK, reason="dcmtk is not installed (apt-get install dcmtk)")


def testdata(name: str) -> str:
    path = get_testdata_file(name)
    assert path, name
    return str(path)


def raw(name: str) -> bytes:
    """A pydicom test file's bytes, untouched."""
    with open(testdata(name), "rb") as fp:
        return fp.read()


def dicom_bytes(name: str = "CT_small.dcm", *, new_uids: bool = True, **attrs: Any) -> bytes:
    """A pydicom test file with attributes changed (`AccessionNumber=...`) and, by default, new
    study/series/SOP UIDs so every call is a new instance of a new study."""
    ds = pydicom.dcmread(testdata(name))
    if new_uids:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def store(world: World, data: bytes, *, role: str = "integration", **kw: Any) -> StoreOutcome:
    return services.instance_store(
        scope=world.scope(role, **kw), fp=io.BytesIO(data), received_via="STOW"
    )


@dataclass
class Scheduled:
    order_id: uuid.UUID
    item_id: uuid.UUID
    accession: str
    patient_id: uuid.UUID
    encounter_id: uuid.UUID
    mrn: str


def schedule(world: World, code: str = "CTHEAD", **kw: Any) -> Scheduled:
    """An IMAGING order for a checked-in patient, through the services."""
    enc = make_encounter(world, "CHECKED_IN", **kw)
    facility = kw.get("facility")
    order = order_place(
        scope=world.scope("doctor", facility=facility),
        encounter_id=enc.id,
        order_type="IMAGING",
        priority="ROUTINE",
        service_codes=[code],
    )
    scope = world.scope("admin", facility=facility)
    with scope_active(scope):
        item = order_items(scope=scope, order_ids=[order.id])[order.id][0]
        mrn = patient_get(scope=scope, patient_id=enc.patient_id).mrn
    return Scheduled(order.id, item.id, item.accession_number, enc.patient_id, enc.id, mrn)


def make_dicom_channel(world: World, ae_title: str, facility: Any = None) -> Channel:
    return channel_create(
        scope=world.scope("admin"),
        name=f"modality-{ae_title.lower()}",
        protocol="dicom",
        facility_id=(facility or world.main).id,
        ae_title=ae_title,
    )
