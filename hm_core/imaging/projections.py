"""Imaging read-model projections: study, series and instance rows and their counts."""

from __future__ import annotations

from django.db.models import F

from hm_core.events.base import EventMeta
from hm_core.events.bus import subscribe
from hm_core.events.replay import rebuildable
from hm_core.imaging import domain
from hm_core.imaging.events import InstanceStored, SeriesReceived, StudyReceived
from hm_core.imaging.models import Instance, Series, Study

rebuildable("imaging", Study, Series, Instance)


@subscribe(StudyReceived)
def study_apply_received(event: StudyReceived, meta: EventMeta) -> None:
    """Upsert keyed on the study id (derived from tenant and StudyInstanceUID)."""
    Study.all_tenants.update_or_create(
        id=event.study_id,
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "study_instance_uid": event.study_instance_uid,
            "accession_number": event.accession_number[:16],
            "dicom_patient_id": event.dicom_patient_id[:64],
            "patient_name": event.dicom_patient_name[:200],
            "patient_birth_date": event.patient_birth_date[:8],
            "patient_sex": event.patient_sex[:16],
            "study_date": domain.parse_da(event.study_date),
            "study_time": event.study_time[:16],
            "study_id_dicom": event.study_id_dicom[:16],
            "study_description": event.study_description[:200],
            "referring_physician": event.referring_physician[:200],
            "link": event.link,
            "patient_id": event.patient_id,
            "encounter_id": event.encounter_id,
            "order_id": event.order_id,
            "order_item_id": event.order_item_id,
            "warnings": event.warnings,
            "version": meta.stream_version,
            "received_at": meta.occurred_at,
            "updated_at": meta.occurred_at,
        },
    )


@subscribe(SeriesReceived)
def series_apply_received(event: SeriesReceived, meta: EventMeta) -> None:
    """Upsert the series; add its modality to the study's (once) and count it."""
    _, created = Series.all_tenants.update_or_create(
        id=domain.series_id(meta.tenant_id, event.series_instance_uid),
        defaults={
            "tenant_id": meta.tenant_id,
            "facility_id": meta.facility_id,
            "study_id": event.study_id,
            "series_instance_uid": event.series_instance_uid,
            "modality": event.modality[:16],
            "series_number": event.series_number,
            "series_description": event.series_description[:200],
            "received_at": meta.occurred_at,
        },
    )
    study = Study.all_tenants.get(tenant_id=meta.tenant_id, id=event.study_id)
    modalities = [m for m in study.modalities.split(",") if m]
    if event.modality and event.modality not in modalities:
        modalities.append(event.modality)
    study.modalities = ",".join(modalities)[:100]
    study.series_count += 1 if created else 0
    study.version, study.updated_at = meta.stream_version, meta.occurred_at
    study.save(update_fields=["modalities", "series_count", "version", "updated_at"])


@subscribe(InstanceStored)
def instance_apply_stored(event: InstanceStored, meta: EventMeta) -> None:
    """One row keyed on the event id; a second event for the same SOP Instance UID violates
    the unique constraint and rolls its command back (a lost duplicate race)."""
    if Instance.all_tenants.filter(id=meta.event_id).exists():
        return
    sid = domain.series_id(meta.tenant_id, event.series_instance_uid)
    Instance.all_tenants.create(
        id=meta.event_id,
        tenant_id=meta.tenant_id,
        facility_id=meta.facility_id,
        study_id=event.study_id,
        series_id=sid,
        study_instance_uid=event.study_instance_uid,
        series_instance_uid=event.series_instance_uid,
        sop_instance_uid=event.sop_instance_uid,
        sop_class_uid=event.sop_class_uid,
        transfer_syntax_uid=event.transfer_syntax_uid,
        instance_number=event.instance_number,
        storage_key=event.storage_key,
        size=event.size,
        received_via=event.received_via,
        stored_at=meta.occurred_at,
    )
    Series.all_tenants.filter(id=sid).update(instance_count=F("instance_count") + 1)
    Study.all_tenants.filter(id=event.study_id).update(
        instance_count=F("instance_count") + 1,
        version=meta.stream_version,
        updated_at=meta.occurred_at,
    )
