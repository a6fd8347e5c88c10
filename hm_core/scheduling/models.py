"""Scheduling read models: schedules and appointments, built by `projections.py`.

Overlaps of active appointments are refused by the database itself: on PostgreSQL two
exclusion constraints over `tstzrange(start_at, end_at)` (per practitioner, per patient,
tenant-wide, BOOKED and CHECKED_IN only; migration 0002), on SQLite by the write lock every
transaction takes at BEGIN (`transaction_mode` IMMEDIATE) around the overlap check.
"""

from __future__ import annotations

from django.db import models

from hm_core.common.models import ScopedModel

# Names the service maps to the contract's 409 codes.
PRACTITIONER_OVERLAP = "scheduling_appt_practitioner_no_overlap"
PATIENT_OVERLAP = "scheduling_appt_patient_no_overlap"


class Schedule(ScopedModel):
    """A practitioner's weekly hours at one facility, in the facility's zone (`time_zone`)."""

    id = models.UUIDField(primary_key=True)
    practitioner_id = models.UUIDField()
    weekly = models.JSONField()  # [{weekday, start "HH:MM", end "HH:MM"}]
    slot_minutes = models.PositiveSmallIntegerField()
    valid_from = models.DateField()
    valid_to = models.DateField(null=True)
    time_zone = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "practitioner_id", "valid_from"],
                name="schedules_by_practitioner",
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "created_at"], name="schedules_by_time"
            ),
        ]

    def __str__(self) -> str:
        return f"schedule {self.id}"


class Appointment(ScopedModel):
    """A booking of a patient with a practitioner; `version` is its stream version."""

    id = models.UUIDField(primary_key=True)
    patient_id = models.UUIDField()
    practitioner_id = models.UUIDField()
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=500)
    encounter_id = models.UUIDField(null=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant_id", "facility_id", "start_at"], name="appointments_by_time"
            ),
            models.Index(
                fields=["tenant_id", "practitioner_id", "start_at"],
                name="appointments_by_practitioner",
            ),
            models.Index(
                fields=["tenant_id", "patient_id", "start_at"], name="appointments_by_patient"
            ),
            models.Index(
                fields=["tenant_id", "facility_id", "status", "start_at"],
                name="appointments_by_status",
            ),
            models.Index(
                fields=["tenant_id", "encounter_id"],
                condition=models.Q(encounter_id__isnull=False),
                name="appointments_by_encounter",
            ),
        ]

    def __str__(self) -> str:
        return f"appointment {self.id} ({self.status})"
