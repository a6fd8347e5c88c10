"""Audit write use-cases. Reads of patient data are recorded here by the services that serve them.

The audit trail is platform, like the bus: any module's read use-case may call
`phi_read_record` so that every disclosure of a patient's data leaves a record.

The audited reads all have one shape, `audited_read`: check the permission, load inside the
scope, record the read, return what was loaded. The action each one records is an argument at
its call site (`action="encounter.viewed"`), so a reader of the service sees what it audits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import QuerySet

from hm_core.audit.models import AuditRecord
from hm_core.common.pagination import paginate
from hm_core.common.scope import Scope, scope_active
from hm_core.common.time import utcnow
from hm_core.events.ops import Rows

T = TypeVar("T")
V = TypeVar("V", bound="_Versioned")
Detail = dict[str, Any]


def phi_read_record(
    *, scope: Scope, patient_id: uuid.UUID | None, action: str, detail: dict[str, Any] | None = None
) -> None:
    """Record that the principal read `patient_id`'s data (who, when, IP, user agent)."""
    _write_reads([_read_record(scope, patient_id, action, detail or {})])


def _read_record(
    scope: Scope, patient_id: uuid.UUID | None, action: str, detail: Detail
) -> AuditRecord:
    ctx = scope.context
    return AuditRecord(
        tenant_id=scope.tenant_id,
        facility_id=scope.facility_id,
        kind=AuditRecord.Kind.READ,
        action=action,
        patient_id=patient_id,
        actor_id=scope.principal.user_id,
        actor_username=scope.principal.username,
        request_id=ctx.request_id or "",
        ip=ctx.ip or "",
        user_agent=ctx.user_agent or "",
        occurred_at=utcnow(),
        detail=detail,
    )


def _write_reads(records: list[AuditRecord]) -> None:
    """One multi-row INSERT for all the records of a read. Inside a caller's transaction it
    commits with it; alone, on PostgreSQL, its transaction skips the wait for the WAL flush
    unless `HM_AUDIT_READS_SYNCHRONOUS` (a read must not cost a disk flush: see settings)."""
    if not records:
        return
    if connection.in_atomic_block:
        AuditRecord.objects.bulk_create(records)
        return
    with transaction.atomic():
        if connection.vendor == "postgresql" and not settings.HM_AUDIT_READS_SYNCHRONOUS:
            _insert_without_flush_wait(records)
        else:
            AuditRecord.objects.bulk_create(records)


def _insert_without_flush_wait(records: list[AuditRecord]) -> None:
    """The INSERT and `SET LOCAL synchronous_commit TO OFF` in one statement (one round trip
    per read): a data-modifying CTE runs whether or not the query names it, and `set_config`
    with `is_local` is `SET LOCAL`."""
    rows: list[models.Model] = [*records]
    statement = Rows(AuditRecord, rows, conflict="none").sql()
    with connection.cursor() as cursor:
        if statement is None:  # more rows than one statement takes
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            AuditRecord.objects.bulk_create(records)
            return
        sql, params = statement
        cursor.execute(
            f"WITH hm_read AS ({sql}) SELECT set_config('synchronous_commit', 'off', true)",
            params,
        )


def audited_read(
    *,
    scope: Scope,
    permission: str,
    action: str,
    load: Callable[[], T],
    patient_of: Callable[[T], uuid.UUID | None],
    detail: Callable[[T], Detail] | None = None,
) -> T:
    """Require `permission`, `load()` inside the scope, record one `action` read of the
    patient `patient_of` names (with `detail`), return what was loaded. Missing: 404, no record."""
    return audited_read_each(
        scope=scope,
        permission=permission,
        action=action,
        load=load,
        reads=lambda loaded: [(patient_of(loaded), detail(loaded) if detail else {})],
    )


class _Versioned(Protocol):
    patient_id: uuid.UUID


def audited_versions_page(
    *,
    scope: Scope,
    permission: str,
    action: str,
    load: Callable[[], V],
    versions: Callable[[], QuerySet[Any]],
    detail: Callable[[V], Detail],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """One page of an aggregate's immutable versions (a document's, a result's), read as one
    audited disclosure naming the version numbers shown; the aggregate must exist (404)."""
    _, page = audited_read(
        scope=scope,
        permission=permission,
        action=action,
        load=lambda: (load(), paginate(versions(), limit=limit, offset=offset)),
        patient_of=lambda loaded: loaded[0].patient_id,
        detail=lambda loaded: {
            **detail(loaded[0]),
            "versions": [v.version for v in loaded[1]["items"]],
        },
    )
    return page


def audited_read_each(
    *,
    scope: Scope,
    permission: str,
    action: str,
    load: Callable[[], T],
    reads: Callable[[T], Iterable[tuple[uuid.UUID | None, Detail]]],
) -> T:
    """`audited_read` for what discloses several patients (a page of results, an HL7 message):
    one `action` record per `(patient_id, detail)` that `reads` gives."""
    scope.require(permission)
    with scope_active(scope):
        loaded = load()
        _write_reads([_read_record(scope, p, action, detail) for p, detail in reads(loaded)])
        return loaded
