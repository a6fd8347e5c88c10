"""De-identification by the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

The attribute table and its actions (D, Z, X, U and the combined ones) come from
`dicom-anonymizer` (KitwareMedical), which ships the table of the standard's edition 2026c as
data; nothing here lists attributes by hand. Its own UID replacement keeps a process-wide
random map; instead every UID (any attribute of VR UI that the profile touches) is remapped
deterministically from a secret, the tenant and the original StudyInstanceUID, so UIDs stay
consistent within a study across instances and downloads, and differ between tenants.
Private attributes are removed (the profile's default).
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from typing import Any

import pydicom
from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from dicomanonymizer.simpledicomanonymizer import anonymize_dataset, initialize_actions
from django.conf import settings
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

EDITION = "dicomfields_2026c"
METHOD = f"PS3.15 E.1 Basic Profile ({EDITION})"  # LO: at most 64 characters


def _rules() -> dict[tuple[int, ...], Callable[..., Any]]:
    return initialize_actions(EDITION)  # type: ignore[no-any-return]


def uid_mapper(*, tenant_id: uuid.UUID, study_instance_uid: str) -> Callable[[str], str]:
    """old UID → new UID, the same for every instance of one study of one tenant."""
    salt = hashlib.sha256(f"{settings.SECRET_KEY}:{tenant_id}:deid".encode()).hexdigest()

    def remap(old: str) -> str:
        if not old:
            return old
        return str(generate_uid(prefix="2.25.", entropy_srcs=[salt, study_instance_uid, old]))

    return remap


def _remap_element(ds: Dataset, tag: tuple[int, int], remap: Callable[[str], str]) -> None:
    element = ds.get(tag)
    if element is None:
        return
    if element.VR == "SQ":
        for item in element.value:
            _remap_all(item, remap)
    elif element.VR == "UI":
        values = element.value
        multi = isinstance(values, list | pydicom.multival.MultiValue)
        element.value = [remap(str(v)) for v in values] if multi else remap(str(values))


def _remap_all(ds: Dataset, remap: Callable[[str], str]) -> None:
    for element in list(ds):
        _remap_element(ds, (element.tag.group, element.tag.element), remap)


def _uid_rules(remap: Callable[[str], str]) -> dict[tuple[int, ...], Callable[..., Any]]:
    """Every profile attribute that holds UIDs (VR UI, and U/X-Z-U* sequences) → `remap`."""
    tables = dicom_anonymization_database_selector(EDITION)
    tags: set[tuple[int, ...]] = set(tables["U_TAGS"]) | set(tables["X_Z_U_STAR_TAGS"])
    for table in ("D_TAGS", "Z_TAGS", "Z_D_TAGS", "X_D_TAGS", "X_Z_D_TAGS"):
        tags |= {t for t in tables[table] if len(t) == 2 and _vr(t) == "UI"}

    def action(ds: Dataset, tag: tuple[int, int]) -> None:
        _remap_element(ds, tag, remap)

    return {tag: action for tag in tags if len(tag) == 2}


def _vr(tag: tuple[int, ...]) -> str:
    try:
        return str(dictionary_VR((tag[0] << 16) | tag[1]))
    except KeyError:
        return ""


def deidentify(ds: Dataset, *, tenant_id: uuid.UUID) -> Dataset:
    """The dataset (with its file meta) de-identified in place, and returned."""
    remap = uid_mapper(tenant_id=tenant_id, study_instance_uid=str(ds.StudyInstanceUID))
    anonymize_dataset(ds, _uid_rules(remap), delete_private_tags=True, base_rules_gen=_rules)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    if getattr(ds, "file_meta", None) is not None and "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def deidentified_bytes(fp: Any, *, tenant_id: uuid.UUID) -> bytes:
    """A stored Part-10 file, read whole (the pixels are kept), de-identified, as Part-10 bytes."""
    ds = pydicom.dcmread(fp)
    deidentify(ds, tenant_id=tenant_id)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
