"""Imaging write use-cases: store one received DICOM instance (STOW-RS and C-STORE alike).

Order of work: size limit, header (refused → nothing written), duplicate check, then the bytes
into storage, then the events in one transaction. A failed transaction deletes the file it
wrote; a lost race for the same SOP Instance UID is a duplicate, a lost race on the study's
stream (two senders of one study at once) is retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import IO

from django.db import IntegrityError, transaction

from hm_core.audit.services import audited_read
from hm_core.common.errors import NotFound, VersionConflict
from hm_core.common.scope import Scope, scope_active
from hm_core.events.base import StreamRef
from hm_core.events.bus import publish
from hm_core.imaging import domain, files
from hm_core.imaging.deidentify import deidentified_bytes
from hm_core.imaging.models import Instance, Series, Study
from hm_core.imaging.selectors import (
    instance_exists,
    instance_get,
    instance_study,
    link_candidates,
    series_of,
    study_get,
    study_state,
)

logger = logging.getLogger("hm_core.imaging")
STREAM = "imaging_study"
STORED, DUPLICATE, REFUSED, TOO_LARGE = "STORED", "DUPLICATE", "REFUSED", "TOO_LARGE"
_ATTEMPTS = 5


@dataclass(frozen=True)
class StoreOutcome:
    """What a sender is told about one instance; `reason` never carries PHI."""

    status: str
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (STORED, DUPLICATE)


def instance_store(*, scope: Scope, fp: IO[bytes], received_via: str) -> StoreOutcome:
    """Store one Part-10 instance from a seekable file: link it, raise its events, keep its
    bytes; the same SOP Instance UID again stores nothing new."""
    scope.require("imaging.store")
    size = files.size_of(fp)
    if size > files.max_instance_bytes():
        return StoreOutcome(TOO_LARGE, reason=f"instance larger than {files.max_instance_bytes()}")
    try:
        header = files.read_header(fp)
    except files.Unreadable as exc:
        return StoreOutcome(REFUSED, reason=str(exc))
    with scope_active(scope):
        if instance_exists(scope=scope, sop_instance_uid=header.sop_instance_uid):
            return _outcome(DUPLICATE, header)
        key = files.save(files.storage_key(scope.tenant_id, header), fp)
        try:
            _record_with_retry(scope, header, domain.Stored(key, size, received_via))
        except IntegrityError:
            files.delete(key)
            return _outcome(DUPLICATE, header)
        except BaseException:
            files.delete(key)
            raise
    return _outcome(STORED, header)


def _outcome(status: str, header: domain.Header) -> StoreOutcome:
    return StoreOutcome(
        status,
        sop_class_uid=header.sop_class_uid,
        sop_instance_uid=header.sop_instance_uid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
    )


def _record_with_retry(scope: Scope, header: domain.Header, stored: domain.Stored) -> None:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _record(scope, header, stored)
            return
        except VersionConflict:
            if attempt == _ATTEMPTS:
                raise
            logger.info("imaging: study stream raced, retrying (attempt %d)", attempt + 1)


@transaction.atomic
def _record(scope: Scope, header: domain.Header, stored: domain.Stored) -> None:
    sid = domain.study_id(scope.tenant_id, header.study_instance_uid)
    state = study_state(scope=scope, study_id=sid)
    series_known, item, mrn_patient = link_candidates(scope=scope, header=header, study=state)
    events = domain.receive(
        header,
        sid=sid,
        study=state,
        series_known=series_known,
        new_link=domain.link(header, item=item, mrn_patient=mrn_patient),
        stored=stored,
    )
    version = state.version if state else 0
    publish(scope=scope, stream=StreamRef(STREAM, sid), expected_version=version, events=events)


def study_view(*, scope: Scope, study_instance_uid: str) -> tuple[Study, list[Series]]:
    """One study with its series; the read is audited against the linked patient."""
    return audited_read(
        scope=scope,
        permission="imaging.view",
        action="imaging.study_viewed",
        load=lambda: _study_with_series(scope, study_instance_uid),
        patient_of=lambda loaded: loaded[0].patient_id,
        detail=lambda loaded: {"study_instance_uid": loaded[0].study_instance_uid},
    )


def _study_with_series(scope: Scope, study_instance_uid: str) -> tuple[Study, list[Series]]:
    study = study_get(scope=scope, study_instance_uid=study_instance_uid)
    return study, list(series_of(scope=scope, study=study))


def instance_open(
    *,
    scope: Scope,
    sop_instance_uid: str,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    action: str = "imaging.instance_retrieved",
) -> tuple[Instance, IO[bytes]]:
    """An instance's stored file, opened (the caller streams and closes it); audited.
    A study or series UID that is not the instance's is 404, like a missing instance."""
    instance, _ = audited_read(
        scope=scope,
        permission="imaging.view",
        action=action,
        load=lambda: _instance_with_study(
            scope, sop_instance_uid, study_instance_uid, series_instance_uid
        ),
        patient_of=lambda loaded: loaded[1].patient_id,
        detail=lambda loaded: {
            "study_instance_uid": loaded[1].study_instance_uid,
            "sop_instance_uid": loaded[0].sop_instance_uid,
        },
    )
    return instance, files.open_file(instance.storage_key)


def _instance_with_study(
    scope: Scope, sop_instance_uid: str, study_uid: str | None, series_uid: str | None
) -> tuple[Instance, Study]:
    """The instance and its study; a study or series UID that is not the instance's is 404."""
    instance = instance_get(scope=scope, sop_instance_uid=sop_instance_uid)
    if study_uid not in (None, instance.study_instance_uid) or (
        series_uid not in (None, instance.series_instance_uid)
    ):
        raise NotFound(details={"resource": "instance"})
    return instance, instance_study(scope=scope, instance=instance)


def instance_deidentified(*, scope: Scope, sop_instance_uid: str) -> tuple[Instance, bytes]:
    """The instance by the PS3.15 Basic Profile, UIDs remapped consistently within its study."""
    instance, fp = instance_open(
        scope=scope, sop_instance_uid=sop_instance_uid, action="imaging.instance_deidentified"
    )
    with fp:
        return instance, deidentified_bytes(fp, tenant_id=scope.tenant_id)
