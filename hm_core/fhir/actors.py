"""dramatiq actor that runs one FHIR Bulk Data export."""

from __future__ import annotations

import uuid

import dramatiq

from hm_core.fhir.export import export_run

QUEUE = "hm_fhir"


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=6 * 3600 * 1000)
def run_export(job_id: str) -> None:
    """Write the export's NDJSON files (a failed export is marked failed, not retried)."""
    export_run(uuid.UUID(job_id))
