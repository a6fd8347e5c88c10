"""FHIR Bulk Data Access 2.0 `$export` (system and Patient level), run by the async workers.

Kick-off records an `ExportJob` and, after commit, hands it to a dramatiq actor (or, in the
embedded mode without a broker, to a background thread). The runner streams: it walks the
exported patients in chunks, every type's sources page by page, and appends each resource as one
NDJSON line to that type's file, so memory stays constant whatever the export's size. It checks
for cancellation between pages. Files are served back only behind the bearer token and scope.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import close_old_connections, transaction

from hm_core.audit.services import phi_read_record
from hm_core.common.errors import BadRequest, NotFound
from hm_core.common.scope import Principal, RequestContext, Scope, scope_active, unscoped
from hm_core.common.time import utcnow
from hm_core.events.broker import uses_workers
from hm_core.fhir.models import ExportJob, StoredResource
from hm_core.fhir.paging import Cursor, read_page
from hm_core.fhir.registry import Mapper, Source, Version, registered
from hm_core.fhir.stored import StoredMapper, WithStored, stored_source
from hm_core.fhir.validation import model_class
from hm_core.patients.selectors import (
    PatientFilters,
    patient_list,
    patients_denying_sharing,
)

logger = logging.getLogger(__name__)
PERMISSION = "fhir.export"
PAGE = 200
# The audit trail is not exported with the clinical record.
NOT_EXPORTED = frozenset({"AuditEvent"})
# Not `OperationOutcome.ndjson`: an output file of kept OperationOutcomes could have that name.
ERROR_FILE = "errors-OperationOutcome.ndjson"


class ExportedPatients:
    """The patients an export writes, in id order, chunk by chunk; iterating it counts in
    `left_out` those whose active `data_sharing: deny` consent keeps them out (contract §18)."""

    CHUNK = 500

    def __init__(self, scope: Scope, patient_ids: list[uuid.UUID] | None = None) -> None:
        self.scope, self.patient_ids = scope, patient_ids
        self.left_out = 0

    def __iter__(self) -> Iterator[uuid.UUID]:
        rows = patient_list(scope=self.scope, filters=PatientFilters()).order_by("id")
        if self.patient_ids is not None:
            rows = rows.filter(id__in=self.patient_ids)
        ids = rows.values_list("id", flat=True).iterator(chunk_size=self.CHUNK)
        while chunk := list(islice(ids, self.CHUNK)):
            denying = patients_denying_sharing(tenant_id=self.scope.tenant_id, patient_ids=chunk)
            self.left_out += len(denying)
            yield from (patient_id for patient_id in chunk if patient_id not in denying)


def exported_patient_ids(
    scope: Scope, *, patient_ids: list[uuid.UUID] | None = None
) -> ExportedPatients:
    """THE call site where the exported patient set is decided (contract §18), before any
    resource is written: the facility's readable patients, less those denying data sharing
    (`patients_denying_sharing`); the manifest's `error` says how many were left out."""
    return ExportedPatients(scope, patient_ids)


def left_out_outcome() -> dict[str, Any]:
    """One line of the error file per patient left out; it does not name the patient (a
    bulk export may leave the organisation, the patient's refusal must not go with it)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "suppressed",
                "diagnostics": "A patient was left out of this export: their active "
                "data_sharing consent denies sharing their data.",
            }
        ],
    }


def export_start(
    *, scope: Scope, level: str, types: list[str], since: datetime | None, request_url: str
) -> ExportJob:
    """Record an export and hand it to the workers once the request commits."""
    scope.require(PERMISSION)
    unknown = [t for t in types if model_class(t) is None]
    if unknown:
        raise BadRequest(
            f"_type names unknown resource types: {', '.join(unknown)}", code="invalid_type"
        )
    now = utcnow()
    with scope_active(scope), transaction.atomic():
        job = ExportJob.objects.create(
            tenant_id=scope.tenant_id, facility_id=scope.facility_id,
            status=ExportJob.Status.QUEUED, level=level, types=types, since=since,
            request_url=request_url[:2000], requested_by_id=scope.principal.user_id,
            requested_by=scope.principal.username, transaction_time=now, created_at=now,
            updated_at=now,
        )  # fmt: skip
        # A bulk disclosure of the facility's patients: one record names who asked for what.
        phi_read_record(
            scope=scope, patient_id=None, action="fhir.export",
            detail={"export": str(job.id), "level": level, "types": types},
        )  # fmt: skip
        transaction.on_commit(lambda: export_kick(job.id))
    return job


def export_kick(job_id: uuid.UUID) -> None:
    """Run the export in the workers, or (embedded mode) in a background thread."""
    if uses_workers():
        from hm_core.fhir.actors import run_export

        run_export.send(str(job_id))
        return
    threading.Thread(target=_run_in_thread, args=(job_id,), daemon=True).start()


def _run_in_thread(job_id: uuid.UUID) -> None:
    try:
        export_run(job_id)
    finally:
        close_old_connections()


def export_get(*, scope: Scope, job_id: uuid.UUID) -> ExportJob:
    scope.require(PERMISSION)
    with scope_active(scope):
        job = ExportJob.objects.for_scope(scope).filter(id=job_id).first()
    if job is None:
        raise NotFound(details={"resource": "export"})
    return job


def export_cancel(*, scope: Scope, job_id: uuid.UUID) -> None:
    """Cancel a running export, or delete a finished one, with its files."""
    job = export_get(scope=scope, job_id=job_id)
    with scope_active(scope):
        ExportJob.objects.for_scope(scope).filter(id=job.id).update(
            status=ExportJob.Status.CANCELLED, updated_at=utcnow()
        )
    shutil.rmtree(job_dir(job.id), ignore_errors=True)


def job_dir(job_id: uuid.UUID) -> Path:
    return Path(settings.FHIR_EXPORT_ROOT) / str(job_id)


def export_file(*, scope: Scope, job_id: uuid.UUID, name: str) -> Path:
    """One NDJSON file of a finished export of the caller's facility, or 404."""
    job = export_get(scope=scope, job_id=job_id)
    names = {item["file"] for item in (*job.output, *job.error) if "file" in item}
    path = job_dir(job.id) / name
    if job.status != ExportJob.Status.DONE or name not in names or not path.is_file():
        raise NotFound(details={"resource": "export_file"})
    return path


# ---------------------------------------------------------------- the runner


def export_run(job_id: uuid.UUID) -> None:
    """Write the export's NDJSON files; idempotent enough to be retried (it starts over)."""
    with unscoped("bulk export runner loads its job before it knows the scope"):
        job = ExportJob.all_tenants.filter(id=job_id).first()
    if job is None or job.status not in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
        return
    scope = Scope(
        tenant_id=job.tenant_id, facility_id=job.facility_id,
        principal=Principal.system("bulk-export"),
        context=RequestContext(request_id=f"export-{job.id}"),
    )  # fmt: skip
    try:
        with scope_active(scope):
            _set(job, status=ExportJob.Status.RUNNING, progress="started")
            output, error = _write(scope, job)
            if _cancelled(job):
                return
            _set(job, status=ExportJob.Status.DONE, progress="done", output=output, error=error)
    except Exception:
        logger.exception("bulk export %s failed", job.id)
        with scope_active(scope):
            _set(
                job,
                status=ExportJob.Status.FAILED,
                error=[{"type": "OperationOutcome", "count": 1}],
            )


def _set(job: ExportJob, **fields: Any) -> None:
    ExportJob.objects.filter(id=job.id).exclude(status=ExportJob.Status.CANCELLED).update(
        **fields, updated_at=utcnow()
    )


def _cancelled(job: ExportJob) -> bool:
    return ExportJob.objects.filter(id=job.id, status=ExportJob.Status.CANCELLED).exists()


class _Files:
    """One open NDJSON file per type, and how many lines each holds."""

    def __init__(self, root: Path) -> None:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        self.root, self.files, self.counts = root, {}, {}  # type: ignore[var-annotated]

    def write(self, version: Version) -> None:
        kind = version.resource_type
        if kind not in self.files:
            self.files[kind] = (self.root / f"{kind}.ndjson").open("w", encoding="utf-8")
            self.counts[kind] = 0
        handle: IO[str] = self.files[kind]
        handle.write(json.dumps(version.as_fhir(), separators=(",", ":")) + "\n")
        self.counts[kind] += 1

    def close(self) -> list[dict[str, Any]]:
        for handle in self.files.values():
            handle.close()
        return [
            {"type": kind, "file": f"{kind}.ndjson", "count": self.counts[kind]}
            for kind in sorted(self.files)
        ]


def _write(scope: Scope, job: ExportJob) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The export's files: its output and its error entries (`type`, `file`, `count`)."""
    files = _Files(job_dir(job.id))
    try:
        mappers = _mappers(scope, job)
        patients = exported_patient_ids(scope)
        for done, patient_id in enumerate(patients, start=1):
            for mapper in mappers:
                sources = mapper.for_patient(scope, patient_id)
                if not _drain(sources, job, files):
                    return [], []
            if done % 50 == 0:
                _set(job, progress=f"{done} patients exported")
        if job.level == "system":  # resources about no patient (organizations, practitioners)
            for kind in _stored_types(scope, job):
                rows = StoredResource.objects.for_scope(scope).filter(
                    resource_type=kind, patient_id__isnull=True
                )
                if not _drain(
                    [Source(rows=rows, expand=stored_source(scope, kind, {}).expand)], job, files
                ):
                    return [], []
        return files.close(), _left_out_file(job, patients.left_out)
    finally:
        files.close()


def _left_out_file(job: ExportJob, left_out: int) -> list[dict[str, Any]]:
    """The error file (one OperationOutcome per patient consent left out), or none."""
    if not left_out:
        return []
    line = json.dumps(left_out_outcome(), separators=(",", ":")) + "\n"
    with (job_dir(job.id) / ERROR_FILE).open("w", encoding="utf-8") as handle:
        for _ in range(left_out):
            handle.write(line)
    return [{"type": "OperationOutcome", "file": ERROR_FILE, "count": left_out}]


def _mappers(scope: Scope, job: ExportJob) -> list[Mapper]:
    own = [m for m in registered() if m.resource_type not in NOT_EXPORTED]
    names = {m.resource_type for m in own}
    stored = [StoredMapper(kind) for kind in _stored_types(scope, job) if kind not in names]
    chosen = [WithStored(m) for m in own] + stored
    return [m for m in chosen if not job.types or m.resource_type in job.types]


def _stored_types(scope: Scope, job: ExportJob) -> list[str]:
    kinds = StoredResource.objects.for_scope(scope).values_list("resource_type", flat=True)
    found = sorted(set(kinds.distinct()))
    return [k for k in found if not job.types or k in job.types]


def _drain(sources: list[Source], job: ExportJob, files: _Files) -> bool:
    """Write every resource of `sources` (after `_since`); False once the job is cancelled."""
    cursor: Cursor | None = Cursor()
    while cursor is not None:
        versions, cursor = read_page(sources, cursor, PAGE)
        for version in versions:
            if job.since is None or version.last_updated >= job.since:
                files.write(version)
        if cursor is not None and _cancelled(job):
            return False
    return True
