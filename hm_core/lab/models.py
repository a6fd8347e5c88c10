"""Laboratory read models: samples, results (the head) and their immutable versions.

`Sample` is one specimen of a lab order (one per specimen type, plus recollections).
`LabResult` is the head of one order item's result: its workflow status, its aggregate `version`
(= stream version, the ETag) and a copy of the current version's values. `LabResultVersion`
holds every reported version's content (v1 as entered, then one per correction). A version row
is never changed: `save()` refuses an existing row, `delete()` always refuses and the queryset
refuses `update()`. Only a rebuild drops rows in bulk, to replay them from the event store.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.db import models

from hm_core.common.models import ScopedManager, ScopedModel, ScopedQuerySet

BARCODE_CONSTRAINT = "lab_sample_barcode_per_facility_uniq"
RESULT_PER_ITEM_CONSTRAINT = "lab_result_per_item_uniq"


class ImmutableVersionError(RuntimeError):
    """An attempt to change or remove a stored result version."""


class Sample(ScopedModel):
    id = models.UUIDField(primary_key=True)
    order_id = models.UUIDField()
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    specimen_type = models.CharField(max_length=32)
    item_ids = models.JSONField(default=list, help_text="order item ids, as text")
    service_codes = models.JSONField(default=list)
    status = models.CharField(max_length=16)
    barcode = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(null=True)
    received_by_id = models.UUIDField(null=True)
    received_by = models.CharField(max_length=150, blank=True)
    reject_reason = models.CharField(max_length=500, blank=True)
    rejected_at = models.DateTimeField(null=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    replaces_sample_id = models.UUIDField(null=True)
    replaced_by_id = models.UUIDField(null=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # A barcode names one physical tube: never two in a facility (rejected ones included).
            models.UniqueConstraint(
                fields=["tenant_id", "facility_id", "barcode"],
                condition=models.Q(barcode__isnull=False) & ~models.Q(barcode=""),
                name=BARCODE_CONSTRAINT,
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "status", "created_at"],
                name="lab_samples_by_status",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "order_id", "created_at"],
                name="lab_samples_by_order",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "encounter_id", "created_at"],
                name="lab_samples_by_encounter",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "created_at"], name="lab_samples_by_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.specimen_type} sample {self.id} ({self.status})"


class LabResult(ScopedModel):
    """The result of one order item; `version` is its stream version, `versions` how many
    reported versions it has (= the number of the current one)."""

    id = models.UUIDField(primary_key=True)
    order_id = models.UUIDField()
    order_item_id = models.UUIDField()
    sample_id = models.UUIDField()
    encounter_id = models.UUIDField()
    patient_id = models.UUIDField()
    service_code = models.CharField(max_length=32)
    status = models.CharField(max_length=16)
    values = models.JSONField(default=list)
    is_critical = models.BooleanField(default=False)
    comment = models.CharField(max_length=1000, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    versions = models.PositiveIntegerField()
    supersedes = models.PositiveIntegerField(null=True)
    entered_by_id = models.UUIDField(null=True)
    entered_by = models.CharField(max_length=150)
    verified_by_id = models.UUIDField(null=True)
    verified_by = models.CharField(max_length=150, blank=True)
    verified_at = models.DateTimeField(null=True)
    released_by_id = models.UUIDField(null=True)
    released_by = models.CharField(max_length=150, blank=True)
    released_at = models.DateTimeField(null=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "order_item_id"], name=RESULT_PER_ITEM_CONSTRAINT
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "encounter_id", "created_at"],
                name="lab_results_by_encounter",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "order_id", "created_at"],
                name="lab_results_by_order",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "status", "created_at"],
                name="lab_results_by_status",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "created_at"], name="lab_results_by_time"
            ),
            models.Index(fields=["tenant_id", "sample_id"], name="lab_results_by_sample"),
        ]

    def __str__(self) -> str:
        return f"{self.service_code} result v{self.versions} ({self.status})"


class LabResultVersionQuerySet(ScopedQuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableVersionError("result versions are immutable: update() refused")


class LabResultVersionManager(ScopedManager):
    """The scoped manager (fails closed outside a scope) over the immutable queryset."""

    def get_queryset(self) -> LabResultVersionQuerySet:
        guarded = super().get_queryset()
        return LabResultVersionQuerySet(self.model, using=guarded.db)


class LabResultVersion(ScopedModel):
    """One reported version of a result; its id is the id of the event that reported it."""

    id = models.UUIDField(primary_key=True)
    result_id = models.UUIDField()
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, help_text="ENTERED (v1) or CORRECTED")
    values = models.JSONField()
    is_critical = models.BooleanField()
    comment = models.CharField(max_length=1000, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    supersedes = models.PositiveIntegerField(null=True)
    author_id = models.UUIDField(null=True)
    author_username = models.CharField(max_length=150)
    created_at = models.DateTimeField()

    objects: ClassVar[LabResultVersionManager] = LabResultVersionManager()
    all_tenants: ClassVar[models.Manager[LabResultVersion]] = models.Manager.from_queryset(
        LabResultVersionQuerySet
    )()

    class Meta:
        base_manager_name = "all_tenants"
        constraints = [
            models.UniqueConstraint(fields=["result_id", "version"], name="lab_result_version_uniq")
        ]
        indexes = [
            models.Index(fields=["tenant_id", "result_id", "version"], name="lab_result_versions"),
        ]

    def __str__(self) -> str:
        return f"result {self.result_id} v{self.version} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersionError("result versions are immutable: save() refused")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableVersionError("result versions are immutable: delete() refused")
