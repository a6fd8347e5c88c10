"""Imaging read models: studies, series and instances (metadata; the files live in storage).

Every QIDO-RS and `/api/imaging/studies/` filter has an index that starts with the tenant and
facility. A study's modalities are denormalised (`modalities`, e.g. `CT,SR`) so a study list
is one query.
"""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel


class Study(ScopedModel):
    id = models.UUIDField(primary_key=True)
    study_instance_uid = models.CharField(max_length=64)
    accession_number = models.CharField(max_length=16, blank=True)
    dicom_patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=200, blank=True)
    patient_birth_date = models.CharField(max_length=8, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    study_date = models.DateField(null=True)
    study_time = models.CharField(max_length=16, blank=True)
    study_id_dicom = models.CharField(max_length=16, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    referring_physician = models.CharField(max_length=200, blank=True)
    modalities = models.CharField(max_length=100, blank=True)
    link = models.CharField(max_length=16)
    patient_id = models.UUIDField(null=True)
    encounter_id = models.UUIDField(null=True)
    order_id = models.UUIDField(null=True)
    order_item_id = models.UUIDField(null=True)
    warnings = models.JSONField(default=list)
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField()
    received_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "study_instance_uid"], name="imaging_study_uid_per_tenant"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "study_date"], name="imaging_studies_by_date"
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "dicom_patient_id"],
                name="imaging_studies_by_pid",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "accession_number"],
                name="imaging_studies_by_acc",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "patient_id"], name="imaging_studies_by_patient"
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "order_id"], name="imaging_studies_by_order"
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "link", "received_at"],
                name="imaging_studies_by_link",
            ),
        ]

    def __str__(self) -> str:
        return f"study {self.study_instance_uid}"


class Series(ScopedModel):
    id = models.UUIDField(primary_key=True)
    study_id = models.UUIDField()
    series_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True)
    series_description = models.CharField(max_length=200, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "series_instance_uid"], name="imaging_series_uid_per_tenant"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "study_id", "series_number"], name="imaging_series_by_study"
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "modality", "study_id"],
                name="imaging_series_by_modality",
            ),
        ]

    def __str__(self) -> str:
        return f"series {self.series_instance_uid}"


class Instance(ScopedModel):
    id = models.UUIDField(primary_key=True)  # the instance_stored event's id
    study_id = models.UUIDField()
    series_id = models.UUIDField()
    study_instance_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True)
    storage_key = models.CharField(max_length=400)
    size = models.BigIntegerField()
    received_via = models.CharField(max_length=8)
    stored_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The same SOP Instance UID again stores nothing new (contract §13).
            models.UniqueConstraint(
                fields=["tenant_id", "sop_instance_uid"], name="imaging_instance_uid_per_tenant"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "series_id", "instance_number"],
                name="imaging_instances_by_series",
            ),
        ]

    def __str__(self) -> str:
        return f"instance {self.sop_instance_uid}"
