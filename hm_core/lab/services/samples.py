"""Laboratory write use-cases on samples: create, receive, reject, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import IntegrityError, transaction

from hm_core.common.db import violates
from hm_core.common.scope import Scope
from hm_core.common.time import utcnow
from hm_core.events.base import DomainEvent, StreamRef
from hm_core.events.bus import publish
from hm_core.events.commands import run_command
from hm_core.lab import domain
from hm_core.lab.errors import DuplicateBarcode
from hm_core.lab.models import BARCODE_CONSTRAINT, Sample
from hm_core.lab.selectors import (
    sample_barcode_taken,
    sample_get,
    sample_has_results,
)

SAMPLE_STREAM = "sample"


@contextmanager
def _unique_barcode() -> Iterator[None]:
    """Turn the database's unique-barcode violation (a lost race) into 409 `duplicate_barcode`."""
    try:
        yield
    except IntegrityError as exc:
        if violates(
            exc, constraint=BARCODE_CONSTRAINT, columns=("tenant_id", "facility_id", "barcode")
        ):
            raise DuplicateBarcode() from exc
        raise


def sample_state(sample: Sample) -> domain.SampleState:
    return domain.SampleState(
        sample_id=sample.id,
        order_id=sample.order_id,
        encounter_id=sample.encounter_id,
        patient_id=sample.patient_id,
        specimen_type=sample.specimen_type,
        status=sample.status,
        version=sample.version,
        item_ids=tuple(uuid.UUID(raw) for raw in sample.item_ids),
        service_codes=tuple(sample.service_codes),
    )


@transaction.atomic
def sample_create(
    *,
    scope: Scope,
    order_id: uuid.UUID,
    encounter_id: uuid.UUID,
    patient_id: uuid.UUID,
    group: domain.SampleGroup,
    replaces_sample_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Expect one specimen for a group of lab items (the workflow's call: order or rejection)."""
    sample_id = uuid.uuid4()
    events = domain.create(
        sample_id=sample_id,
        order_id=order_id,
        encounter_id=encounter_id,
        patient_id=patient_id,
        group=group,
        replaces_sample_id=replaces_sample_id,
    )
    publish(
        scope=scope, stream=StreamRef(SAMPLE_STREAM, sample_id), expected_version=0, events=events
    )
    return sample_id


def sample_receive(
    *,
    scope: Scope,
    sample_id: uuid.UUID,
    barcode: str,
    received_at: datetime,
    expected_version: int | None = None,
) -> Sample:
    """PENDING → RECEIVED; the barcode is unique per facility (checked, and by the database)."""

    def decide(sample: Sample) -> list[DomainEvent]:
        events = domain.receive(
            sample_state(sample), barcode=barcode, received_at=received_at, now=utcnow()
        )
        if sample_barcode_taken(scope=scope, barcode=barcode.strip(), exclude=sample.id):
            raise DuplicateBarcode(details={"barcode": barcode.strip()})
        return list(events)

    with _unique_barcode():
        return run_command(
            scope=scope,
            permission="samples.receive",
            stream_type=SAMPLE_STREAM,
            load=lambda: sample_get(scope=scope, sample_id=sample_id),
            decide=decide,
            expected_version=expected_version,
        )


def sample_reject(
    *, scope: Scope, sample_id: uuid.UUID, reason: str, expected_version: int | None = None
) -> Sample:
    """PENDING | RECEIVED → REJECTED; the workflow asks for a recollection."""

    def decide(sample: Sample) -> list[DomainEvent]:
        has_results = sample_has_results(scope=scope, sample=sample)
        return list(domain.reject(sample_state(sample), reason=reason, has_results=has_results))

    return run_command(
        scope=scope,
        permission="samples.reject",
        stream_type=SAMPLE_STREAM,
        load=lambda: sample_get(scope=scope, sample_id=sample_id),
        decide=decide,
        expected_version=expected_version,
    )


def sample_cancel_if_unneeded(
    *, scope: Scope, sample_id: uuid.UUID, cancelled_item_ids: set[uuid.UUID], reason: str
) -> Sample:
    """Cancel a pending sample whose every item is cancelled (the workflow's call, as a
    consequence of cancelling the order: hence the order's permission)."""
    return run_command(
        scope=scope,
        permission="orders.cancel",
        stream_type=SAMPLE_STREAM,
        load=lambda: sample_get(scope=scope, sample_id=sample_id),
        decide=lambda sample: domain.cancel_if_unneeded(
            sample_state(sample), cancelled_item_ids=cancelled_item_ids, reason=reason
        ),
        expected_version=None,
    )
