"""Helpers every mapper shares: references, codings, folding a stream into its versions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from hm_core.common.scope import Scope
from hm_core.events.base import EventMeta
from hm_core.events.store import read_stream
from hm_core.fhir.registry import Version

LOINC = "http://loinc.org"
MRN_SYSTEM = "urn:hm-core:mrn"
VISIT_SYSTEM = "urn:hm-core:visit-number"
PLACER_SYSTEM = "urn:hm-core:placer-order-number"
ACCESSION_SYSTEM = "urn:hm-core:accession-number"
SERVICE_SYSTEM = "urn:hm-core:service-code"
ANALYTE_SYSTEM = "urn:hm-core:analyte-code"


def ref(resource_type: str, resource_id: uuid.UUID | str | None) -> dict[str, str] | None:
    return None if resource_id is None else {"reference": f"{resource_type}/{resource_id}"}


def drop_empty(resource: dict[str, Any]) -> dict[str, Any]:
    """FHIR forbids empty strings, lists and objects: leave such elements out."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


def fold_stream(
    scope: Scope,
    stream_id: uuid.UUID,
    *,
    apply: Callable[[dict[str, Any], Any, EventMeta], None],
    render: Callable[[dict[str, Any]], tuple[dict[str, Any], uuid.UUID | None]],
) -> list[Version]:
    """Every version of an aggregate, newest first, rebuilt from its events: `apply` folds
    one event into the state; each event (one stream version) yields one resource version."""
    state: dict[str, Any] = {}
    versions = []
    for recorded in read_stream(scope.tenant_id, stream_id):
        apply(state, recorded.event, recorded.meta)
        resource, patient_id = render(state)
        versions.append(
            Version(
                resource=resource,
                version_id=recorded.meta.stream_version,
                last_updated=recorded.meta.recorded_at,
                patient_id=patient_id,
            )
        )
    return versions[::-1]
