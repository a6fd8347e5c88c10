"""Laboratory read-model projections: samples, result heads and immutable result versions.

Replay-safe: rows are keyed on ids carried by the events (a version row's id is the id of the
event that reported it, inserted with `ignore_conflicts`), heads only move forward
(`version__lt`), and every timestamp comes from the event. Applying an event twice, or
rebuilding, changes nothing.
"""

from __future__ import annotations

from typing import Any

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.events.unit_of_work import insert, update, upsert
from hm_core.lab import domain
from hm_core.lab.events import (
    AnalyteValue,
    ResultCorrected,
    ResultEntered,
    ResultReleased,
    ResultVerified,
    SampleCancelled,
    SampleCreated,
    SampleReceived,
    SampleRejected,
)
from hm_core.lab.models import LabResult, LabResultVersion, Sample

rebuildable("lab", Sample, LabResult, LabResultVersion)


@subscribe(SampleCreated)
def sample_apply_created(event: SampleCreated, meta: EventMeta) -> None:
    """A PENDING sample; a recollection points back at the sample it replaces."""
    upsert(
        Sample,
        id=event.sample_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "order_id": event.order_id,
            "encounter_id": event.encounter_id,
            "patient_id": event.patient_id,
            "specimen_type": event.specimen_type,
            "item_ids": [str(item_id) for item_id in event.item_ids],
            "service_codes": list(event.service_codes),
            "status": domain.PENDING,
            "replaces_sample_id": event.replaces_sample_id,
            "version": meta.stream_version,
            "created_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )
    if event.replaces_sample_id is not None:
        update(
            Sample.all_tenants.filter(tenant_id=meta.tenant_id, id=event.replaces_sample_id),
            replaced_by_id=event.sample_id,
        )


@subscribe(SampleReceived)
def sample_apply_received(event: SampleReceived, meta: EventMeta) -> None:
    """The barcode's uniqueness per facility is enforced here by the database, too."""
    _sample_advance(
        meta,
        status=domain.RECEIVED,
        barcode=event.barcode,
        received_at=event.received_at,
        received_by_id=meta.actor_id,
        received_by=meta.actor_username,
    )


@subscribe(SampleRejected)
def sample_apply_rejected(event: SampleRejected, meta: EventMeta) -> None:
    _sample_advance(
        meta, status=domain.REJECTED, reject_reason=event.reason, rejected_at=meta.occurred_at
    )


@subscribe(SampleCancelled)
def sample_apply_cancelled(event: SampleCancelled, meta: EventMeta) -> None:
    _sample_advance(meta, status=domain.CANCELLED, cancel_reason=event.reason)


def _sample_advance(meta: EventMeta, **fields: Any) -> None:
    """Move the sample to this event's version; an older or repeated event changes nothing."""
    update(
        Sample.all_tenants.filter(
            id=meta.stream.id, tenant_id=meta.tenant_id, version__lt=meta.stream_version
        ),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )


@subscribe(ResultEntered)
def lab_result_apply_entered(event: ResultEntered, meta: EventMeta) -> None:
    """The head (once) and version 1, ENTERED.

    The head is inserted only when its id is new, never with `ignore_conflicts`: a second
    result for the same order item must hit the unique constraint (a lost race is 409).
    """
    if not LabResult.all_tenants.filter(tenant_id=meta.tenant_id, id=event.result_id).exists():
        LabResult.all_tenants.create(
            id=event.result_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            order_id=event.order_id,
            order_item_id=event.order_item_id,
            sample_id=event.sample_id,
            encounter_id=event.encounter_id,
            patient_id=event.patient_id,
            service_code=event.service_code,
            status=domain.ENTERED,
            values=_json(event.values),
            is_critical=event.is_critical,
            comment=event.comment,
            versions=event.version,
            entered_by_id=meta.actor_id,
            entered_by=meta.actor_username,
            version=meta.stream_version,
            created_at=meta.occurred_at,
            updated_at=meta.occurred_at,
        )
    _version_insert(event, meta, status=domain.ENTERED, comment=event.comment)


@subscribe(ResultVerified)
def lab_result_apply_verified(event: ResultVerified, meta: EventMeta) -> None:
    """Verified by a person here, or by the outside laboratory that reported the result."""
    external = ", ".join(filter(None, (event.external_verifier, event.external_laboratory)))
    _head_advance(
        meta,
        status=domain.VERIFIED,
        verified_by_id=None if external else meta.actor_id,
        verified_by=external[:150] or meta.actor_username,
        verified_at=meta.occurred_at,
    )


@subscribe(ResultReleased)
def lab_result_apply_released(event: ResultReleased, meta: EventMeta) -> None:
    _head_advance(
        meta,
        status=domain.RELEASED,
        released_by_id=meta.actor_id,
        released_by=meta.actor_username,
        released_at=meta.occurred_at,
    )


@subscribe(ResultCorrected)
def lab_result_apply_corrected(event: ResultCorrected, meta: EventMeta) -> None:
    """A new CORRECTED version; the head shows it, the superseded version stays as it was."""
    _version_insert(
        event,
        meta,
        status=domain.CORRECTED,
        comment=event.comment,
        reason=event.reason,
        supersedes=event.supersedes_version,
    )
    _head_advance(
        meta,
        status=domain.CORRECTED,
        values=_json(event.values),
        is_critical=event.is_critical,
        comment=event.comment,
        reason=event.reason,
        versions=event.version,
        supersedes=event.supersedes_version,
    )


def _version_insert(
    event: ResultEntered | ResultCorrected,
    meta: EventMeta,
    *,
    status: str,
    comment: str = "",
    reason: str = "",
    supersedes: int | None = None,
) -> None:
    insert(
        LabResultVersion,
        LabResultVersion(
            id=meta.event_id,
            tenant_id=meta.tenant_id,
            facility_id=meta.facility_id,
            result_id=event.result_id,
            version=event.version,
            status=status,
            values=_json(event.values),
            is_critical=event.is_critical,
            comment=comment,
            reason=reason,
            supersedes=supersedes,
            author_id=meta.actor_id,
            author_username=meta.actor_username,
            created_at=meta.occurred_at,
        ),
    )


def _head_advance(meta: EventMeta, **fields: Any) -> None:
    """Move the head to this event's version; an older or repeated event changes nothing."""
    update(
        LabResult.all_tenants.filter(
            id=meta.stream.id, tenant_id=meta.tenant_id, version__lt=meta.stream_version
        ),
        **fields,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )


def _json(values: list[AnalyteValue]) -> list[dict[str, Any]]:
    return [value.model_dump(mode="json") for value in values]
